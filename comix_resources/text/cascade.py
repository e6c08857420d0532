"""The ordered fallback cascade: each page goes to the first engine that answers it.

For each page, engines are tried in order. An engine's cached answer is used without a call;
otherwise the engine is called, 429 and 5xx answers and dropped or refused connections are
retried with exponential backoff and jitter, and any other failure (timeout, bad JSON, schema,
empty answer) moves the page to the next engine. Successes are cached, failures are not, so
the next run asks again only where no answer exists. Pages run on a bounded thread pool: the
work is network-bound for VLM endpoints (``max_concurrency`` requests in flight, 32 by default:
what a vLLM server or OpenRouter takes from one client), and OCR engines serialise themselves
(a partition's pages reach OCR on many processes through ``text.table``, not through these
threads).

A 429 answer lowers how many requests that engine keeps in flight to what the endpoint took
(``_InFlight``); the refused page waits its Retry-After (or the backoff) alone while the other
pages keep the endpoint full, and the limit climbs back while answers come.

``extract_page(page, prepared)`` takes what the text stage already has for the page (the
decoded pixels, the OCR's detected lines and the triage verdict): OCR then only recognises,
and a page the triage calls non-comic skips the engines that cost money or time (``costly``
engines always, OCR when ``skip_ocr_non_comic``), with the reason in its result.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comix_resources.ids import sha256_bytes
from comix_resources.text.base import (
    OUTCOMES,
    Attempt,
    EngineAnswer,
    EngineError,
    PageInput,
    PageTextResult,
    TextEngine,
)
from comix_resources.text.cache import TextCache
from comix_resources.text.schema import PROMPT_VERSION

_DETAIL_CHARS = 300


def backoff_delay(
    retry: int,
    base_delay_s: float,
    max_delay_s: float,
    rng: random.Random,
    retry_after_s: float | None = None,
) -> float:
    """Delay before retry number ``retry`` (0-based): base * 2**retry, capped, with jitter.

    "Equal jitter": half the delay is fixed and half random, so concurrent workers that hit
    a rate limit together spread out but never retry at once. A server's Retry-After wins
    when it asks for longer, within the cap.
    """
    delay = min(max_delay_s, base_delay_s * 2**retry)
    delay = delay / 2 + rng.uniform(0, delay / 2)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_delay_s))
    return delay


DEFAULT_MAX_CONCURRENCY = 32
TRIAGE_ENGINE = "triage"  # the engine named on a page that the triage answered alone


@dataclass(frozen=True)
class PreparedPage:
    """What the text stage knows of a page before the cascade: its pixels as the OCR reads
    them, the lines the OCR's detection found there, and the triage's verdict."""

    image: Any  # np.ndarray, RGB, at most the OCR's preprocessing size
    quads: Sequence[Any]
    non_comic: bool  # the triage is confident the page is not a comic
    reason: str


class _InFlight:
    """Requests in flight to one engine: at most ``ceiling``, and at most what the endpoint
    has shown it takes. A 429 lowers the limit to the requests in flight when it came, less
    one; every ``limit`` answers in a row raise it by one again (additive increase,
    multiplicative-style decrease, as TCP does). A refused page waits out its own
    Retry-After while the others keep the endpoint full: nobody idles on a slot.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self.active = 0
        self._answers = 0
        self._changed = threading.Condition()

    def acquire(self) -> None:
        with self._changed:
            while self.active >= self.limit:
                self._changed.wait()
            self.active += 1

    def release(self, rate_limited: bool) -> None:
        with self._changed:
            if rate_limited:
                self.limit = max(1, min(self.limit, self.active - 1))
                self._answers = 0
            elif self.limit < self.ceiling:
                self._answers += 1
                if self._answers >= self.limit:
                    self.limit, self._answers = self.limit + 1, 0
            self.active -= 1
            self._changed.notify_all()

    def __getstate__(self) -> dict[str, Any]:
        return {"ceiling": self.ceiling}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["ceiling"])  # type: ignore[misc]


class TextCascade:
    """Run pages through ``engines`` in order; see the module docstring."""

    def __init__(
        self,
        engines: Sequence[TextEngine],
        cache: TextCache | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        prompt_version: str = PROMPT_VERSION,
        max_delay_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        skip_ocr_non_comic: bool = True,
    ) -> None:
        if not engines:
            raise ValueError("a cascade needs at least one engine")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.engines = list(engines)
        self.cache = cache
        self.max_concurrency = max_concurrency
        self.prompt_version = prompt_version
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.skip_ocr_non_comic = skip_ocr_non_comic
        self._in_flight = {engine.name: _InFlight(max_concurrency) for engine in self.engines}

    def __getstate__(self) -> dict[str, Any]:
        # a cascade of local engines goes to worker processes whole; its limits stay here
        state = {k: v for k, v in self.__dict__.items() if k not in ("_in_flight", "_sleep")}
        state["_sleep"] = self._sleep if self._sleep is not time.sleep else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._sleep = self._sleep or time.sleep
        self._in_flight = {e.name: _InFlight(self.max_concurrency) for e in self.engines}

    @property
    def is_local(self) -> bool:
        """Every engine computes on this machine (no endpoint to wait for)."""
        return not any(getattr(engine, "remote", False) for engine in self.engines)

    def skips(self, engine: TextEngine, prepared: PreparedPage | None) -> bool:
        """Whether the triage spares ``engine`` this page."""
        if prepared is None or not prepared.non_comic:
            return False
        if engine.name == "ocr":
            return self.skip_ocr_non_comic
        return bool(getattr(engine, "costly", True))

    def extract_pages(self, pages: Sequence[PageInput]) -> list[PageTextResult]:
        """One result per page, in the order of ``pages``; never raises for a bad page."""
        if self.max_concurrency == 1 or len(pages) <= 1:
            return [self.extract_page(page) for page in pages]
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="page-text") as pool:
            return list(pool.map(self.extract_page, pages))

    def extract_page(self, page: PageInput, prepared: PreparedPage | None = None) -> PageTextResult:
        started = time.monotonic()
        try:
            data, sha256, width, height = _load(page)
        except Exception as exc:  # a broken image is that page's problem, not the run's
            return _failed(page.page_id, [], started, f"unreadable image: {exc}")

        trail: list[Attempt] = []
        skipped = [engine.name for engine in self.engines if self.skips(engine, prepared)]
        if prepared is not None and len(skipped) == len(self.engines):
            return _skipped(page.page_id, started, skipped, prepared.reason)
        for engine in self.engines:
            if engine.name in skipped:
                continue
            if self.cache is not None:
                hit = self.cache.get(sha256, engine.name, engine.model, self.prompt_version)
                if hit is not None:
                    trail.append(Attempt(engine.name, engine.model, "ok", 0.0, cached=True))
                    return _succeeded(page.page_id, engine, hit, trail, started, cached=True)
            answer = self._try_engine(engine, data, width, height, trail, prepared)
            if answer is not None:
                if self.cache is not None:
                    self.cache.put(sha256, engine.name, engine.model, self.prompt_version, answer)
                return _succeeded(page.page_id, engine, answer, trail, started, cached=False)
        return _failed(page.page_id, trail, started, trail[-1].detail if trail else None)

    def _try_engine(
        self,
        engine: TextEngine,
        data: bytes,
        width: int,
        height: int,
        trail: list[Attempt],
        prepared: PreparedPage | None = None,
    ) -> EngineAnswer | None:
        slots = self._in_flight[engine.name]
        for retry in range(engine.max_retries + 1):
            slots.acquire()
            began = time.monotonic()
            try:
                if (
                    prepared is not None
                    and prepared.image is not None
                    and hasattr(engine, "extract_lines")
                ):
                    answer = engine.extract_lines(prepared.image, prepared.quads, width, height)
                else:
                    answer = engine.extract(data, width, height)
            except EngineError as exc:
                slots.release(rate_limited=exc.status == 429)
                trail.append(
                    Attempt(
                        engine.name,
                        engine.model,
                        exc.kind,
                        time.monotonic() - began,
                        str(exc)[:_DETAIL_CHARS],
                        exc.status,
                        prompt_tokens=exc.prompt_tokens,
                        completion_tokens=exc.completion_tokens,
                        cost_usd=exc.cost_usd,
                    )
                )
                if exc.retryable and retry < engine.max_retries:
                    self._sleep(
                        backoff_delay(
                            retry,
                            engine.base_delay_s,
                            self.max_delay_s,
                            self._rng,
                            exc.retry_after_s,
                        )
                    )
                    continue
                return None
            except Exception as exc:  # an engine bug costs the page this engine, not the run
                slots.release(False)
                detail = f"{type(exc).__name__}: {exc}"[:_DETAIL_CHARS]
                trail.append(
                    Attempt(
                        engine.name, engine.model, "engine_error", time.monotonic() - began, detail
                    )
                )
                return None
            slots.release(False)
            trail.append(
                Attempt(
                    engine.name,
                    engine.model,
                    "ok",
                    time.monotonic() - began,
                    prompt_tokens=answer.prompt_tokens,
                    completion_tokens=answer.completion_tokens,
                    cost_usd=answer.cost_usd,
                )
            )
            return answer
        return None  # pragma: no cover - the loop always returns


def _load(page: PageInput) -> tuple[bytes, str, int, int]:
    data = page.image if isinstance(page.image, bytes) else Path(page.image).read_bytes()
    sha256 = page.sha256 or sha256_bytes(data)
    width, height = page.width, page.height
    if width is None or height is None:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
    return data, sha256, width, height


def _spent(trail: list[Attempt]) -> tuple[int, int, float]:
    live = [a for a in trail if not a.cached]
    return (
        sum(a.prompt_tokens for a in live),
        sum(a.completion_tokens for a in live),
        sum(a.cost_usd for a in live),
    )


def _error_kinds(trail: list[Attempt]) -> tuple[str, ...]:
    return tuple(f"{a.engine}:{a.outcome}" for a in trail if a.outcome != "ok")


def _succeeded(
    page_id: str,
    engine: TextEngine,
    answer: EngineAnswer,
    trail: list[Attempt],
    started: float,
    cached: bool,
) -> PageTextResult:
    prompt_tokens, completion_tokens, cost = _spent(trail)
    return PageTextResult(
        page_id=page_id,
        items=answer.items,
        engine=engine.name,
        model=engine.model,
        attempts=sum(not a.cached for a in trail),
        error_kinds=_error_kinds(trail),
        latency_s=time.monotonic() - started,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        vlm=answer.vlm,
        status="ok",
        error=None,
        cached=cached,
        trail=tuple(trail),
    )


def failed_result(page_id: str, error: str) -> PageTextResult:
    """The result of a page no engine could be given (its image does not decode)."""
    return _failed(page_id, [], time.monotonic(), error)


def _skipped(page_id: str, started: float, engines: list[str], reason: str) -> PageTextResult:
    return PageTextResult(
        page_id=page_id,
        items=(),
        engine=TRIAGE_ENGINE,
        model=None,
        attempts=0,
        error_kinds=(),
        latency_s=time.monotonic() - started,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        vlm=None,
        status="ok",
        error=None,
        skipped=f"non-comic by triage, skipped {', '.join(engines)}: {reason}",
    )


def _failed(
    page_id: str, trail: list[Attempt], started: float, error: str | None
) -> PageTextResult:
    prompt_tokens, completion_tokens, cost = _spent(trail)
    return PageTextResult(
        page_id=page_id,
        items=(),
        engine=None,
        model=None,
        attempts=len(trail),
        error_kinds=_error_kinds(trail),
        latency_s=time.monotonic() - started,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        vlm=None,
        status="failed",
        error=error or "no engine answered",
        trail=tuple(trail),
    )


def cascade_counts(results: Sequence[PageTextResult]) -> dict[str, dict[str, int]]:
    """Per engine: pages by final outcome (one of ``OUTCOMES``), cache hits and calls made.

    A page counts once per engine it reached, with the outcome of that engine's last
    attempt: a 429 retried into success is "ok"; three 500s are one "http_error".
    """
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        last: dict[str, Attempt] = {}
        for attempt in result.trail:
            row = counts.setdefault(
                attempt.engine, {**dict.fromkeys(OUTCOMES, 0), "cached": 0, "calls": 0}
            )
            row["calls"] += not attempt.cached
            row["cached"] += attempt.cached
            last[attempt.engine] = attempt
        for engine, attempt in last.items():
            counts[engine][attempt.outcome] += 1
    return counts


def cascade_summary(results: Sequence[PageTextResult]) -> dict[str, Any]:
    """Totals for a run, ready to become materialization metadata."""
    return {
        "pages": len(results),
        "ok": sum(r.status == "ok" for r in results),
        "failed": sum(r.status != "ok" for r in results),
        "cached": sum(r.cached for r in results),
        "items": sum(len(r.items) for r in results),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
        "cost_usd": round(sum(r.cost_usd for r in results), 6),
        "engines": cascade_counts(results),
    }


def result_row(result: PageTextResult) -> dict[str, Any]:
    """A flat row for ``page_text.parquet``: items as a list of structs, the VLM JSON as text."""
    return {
        "page_id": result.page_id,
        "status": result.status,
        "engine": result.engine,
        "model": result.model,
        "attempts": result.attempts,
        "error_kinds": list(result.error_kinds),
        "latency_s": result.latency_s,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": result.cost_usd,
        "cached": result.cached,
        "error": result.error,
        "items": [item.to_json() for item in result.items],
        "vlm_json": json.dumps(result.vlm, sort_keys=True) if result.vlm is not None else None,
    }
