"""Result types, the engine protocol and the typed errors every text engine raises.

An engine makes one attempt at one page: it returns an ``EngineAnswer`` or raises one of the
``EngineError`` subclasses below. Retrying, falling through to the next engine, caching and
costing are the cascade's job (``cascade.py``), so engines stay small and testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Box = tuple[int, int, int, int]  # x, y, w, h in page pixels

KINDS = ("dialogue", "narration", "sfx")

# Outcome kinds, in the order metadata lists them. "ok" is success; the rest are failures.
OUTCOMES = (
    "ok",
    "json_error",
    "schema_error",
    "http_error",
    "timeout",
    "connection_error",
    "empty",
    "config_error",
    "engine_error",
)


@dataclass(frozen=True)
class TextItem:
    """One balloon, caption or sound effect."""

    text: str
    kind: str  # "dialogue" | "narration" | "sfx"
    bbox: Box | None  # None when the engine gave no box
    speaker: str | None = None
    panel_number: int | None = None  # as the engine reported it, not a geometric assignment
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "speaker": self.speaker,
            "panel_number": self.panel_number,
            "confidence": self.confidence,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextItem:
        bbox = data.get("bbox")
        return cls(
            text=data["text"],
            kind=data["kind"],
            bbox=tuple(bbox) if bbox is not None else None,  # type: ignore[arg-type]
            speaker=data.get("speaker"),
            panel_number=data.get("panel_number"),
            confidence=data.get("confidence"),
        )


@dataclass(frozen=True)
class EngineAnswer:
    """A successful attempt: the items, the validated VLM JSON if any, and what it cost."""

    items: tuple[TextItem, ...]
    vlm: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """One call of one engine on one page; ``outcome`` is one of ``OUTCOMES``."""

    engine: str
    model: str
    outcome: str
    latency_s: float
    detail: str | None = None  # short, never contains a secret
    http_status: int | None = None
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class PageTextResult:
    """What the cascade says about one page: the answer of the first engine that succeeded."""

    page_id: str
    items: tuple[TextItem, ...]
    engine: str | None  # None when every engine failed
    model: str | None
    attempts: int  # engine calls made in this run, retries included (0 when served from cache)
    error_kinds: tuple[str, ...]  # "engine:kind" of every failed attempt, in order
    latency_s: float  # wall time spent on the page in this run
    prompt_tokens: int  # all attempts of this run, failed ones too (they were billed)
    completion_tokens: int
    cost_usd: float  # what this run paid for the page (0 when served from cache)
    vlm: dict[str, Any] | None
    status: str  # "ok" | "failed"
    error: str | None
    cached: bool = False
    trail: tuple[Attempt, ...] = field(default=(), repr=False)
    skipped: str | None = None  # why the triage spared this page the engines, if it did


@dataclass(frozen=True)
class PageInput:
    """A page to read. ``image`` is encoded bytes (PNG, JPEG, ...) or a path to them."""

    page_id: str
    image: bytes | str | Path
    sha256: str | None = None  # computed from the bytes when None
    width: int | None = None  # read from the image when None
    height: int | None = None


@runtime_checkable
class TextEngine(Protocol):
    """One way to read a page. ``extract`` makes exactly one attempt."""

    name: str  # "ocr" | "openai" | "transformers"
    model: str  # part of the cache key: change it when the output would change
    max_retries: int  # retries on 429 and 5xx (0 for local engines)
    base_delay_s: float  # first backoff delay

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer: ...


def token_cost(
    prompt_tokens: int, completion_tokens: int, price_in_per_mtok: float, price_out_per_mtok: float
) -> float:
    """USD for one call, with prices given per million tokens as providers list them."""
    return (prompt_tokens * price_in_per_mtok + completion_tokens * price_out_per_mtok) / 1e6


class EngineError(Exception):
    """A failed attempt. Carries what the attempt cost, since a bad answer is still billed."""

    kind = "engine_error"
    status: int | None = None  # the HTTP status, for an answer that came with one
    retry_after_s: float | None = None  # how long the endpoint asked us to wait

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost_usd = cost_usd

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if sent again after a backoff."""
        return False


class EngineTimeout(EngineError):
    # Not retried: the endpoint may still be working on (and billing) the request.
    kind = "timeout"


class EngineConnectionError(EngineError):
    """The endpoint refused or dropped the connection (a reset, a closed keep-alive socket,
    an accept queue full under load): transient, and retried like a 5xx answer, as the OpenAI
    SDK does by default."""

    kind = "connection_error"

    @property
    def retryable(self) -> bool:
        return True


class EngineHTTPError(EngineError):
    kind = "http_error"

    def __init__(self, message: str, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        # Rate limits and server errors are transient; 4xx like 400/401/404 will not heal.
        return self.status == 429 or self.status >= 500


class EngineJSONError(EngineError):
    kind = "json_error"


class EngineSchemaError(EngineError):
    kind = "schema_error"


class EngineEmpty(EngineError):
    kind = "empty"


class EngineConfigError(EngineError):
    """The engine cannot run at all (missing API key, missing model files)."""

    kind = "config_error"
