"""Any OpenAI-compatible chat endpoint as a text engine, through the official SDK.

OpenRouter, Gemini's OpenAI compatibility endpoint, vLLM, Ollama and LM Studio all speak
``POST {base_url}/chat/completions``. The page goes inline as a base64 data URL, so the
endpoint never needs to reach our storage. The SDK's own retries are switched off: the
cascade retries 429 and 5xx itself, so that attempts are counted and backoff is shared.
"""

from __future__ import annotations

import base64
import io
import os
import re
import threading
from typing import Any

from comix_resources.text.base import (
    EngineAnswer,
    EngineConfigError,
    EngineConnectionError,
    EngineError,
    EngineHTTPError,
    EngineTimeout,
    token_cost,
)
from comix_resources.text.schema import VLM_PROMPT, parse_vlm_json, vlm_items

_MIME = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
}
# Provider error bodies sometimes echo a (partly masked) key; never let one reach a log.
_KEY_LIKE = re.compile(r"\b(sk|pk|rk|AIza)[-_A-Za-z0-9*]{8,}")


class OpenAIEngine:
    """A VLM behind an OpenAI-compatible endpoint.

    The key is read from the environment variable ``api_key_env`` when the first page is
    sent (the Dagster layer resolves an ``EnvVar`` and may pass ``api_key`` instead). Local
    servers that need no key work with ``api_key_env=None``. The key is kept out of
    ``repr`` and scrubbed from error messages.
    """

    name = "openai"
    remote = True  # network-bound: many pages in flight on threads
    costly = True  # paid per page: the triage spares it non-comic pages

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        base_delay_s: float = 1.0,
        price_in_per_mtok: float = 0.0,
        price_out_per_mtok: float = 0.0,
        max_tokens: int = 4096,
        temperature: float = 0.0,
        json_mode: bool = True,
        max_image_side: int | None = 1600,
        prompt: str = VLM_PROMPT,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.base_delay_s = base_delay_s
        self.price_in_per_mtok = price_in_per_mtok
        self.price_out_per_mtok = price_out_per_mtok
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.json_mode = json_mode
        self.max_image_side = max_image_side
        self.prompt = prompt
        self.default_headers = default_headers
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIEngine(base_url={self.base_url!r}, model={self.model!r})"

    def _key(self) -> str:
        if self._api_key:
            return self._api_key
        if self.api_key_env is None:
            return "not-needed"  # the SDK insists on a key; local servers ignore it
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise EngineConfigError(f"environment variable {self.api_key_env} is not set")
        return key

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(
                    base_url=self.base_url,
                    api_key=self._key(),
                    timeout=self.timeout_s,
                    max_retries=0,
                    default_headers=self.default_headers,
                )
            return self._client

    def _scrub(self, text: str) -> str:
        key = self._api_key or (os.environ.get(self.api_key_env, "") if self.api_key_env else "")
        if key:
            text = text.replace(key, "***")
        return _KEY_LIKE.sub("***", text)

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        import openai

        client = self._get_client()
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": self.prompt},
                        {"type": "image_url", "image_url": {"url": self._data_url(image_bytes)}},
                    ],
                }
            ],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.json_mode:
            request["response_format"] = {"type": "json_object"}
        try:
            response = client.chat.completions.create(**request)
        except openai.APITimeoutError as exc:  # before APIConnectionError: it is a subclass
            raise EngineTimeout(f"no answer within {self.timeout_s:g} s") from exc
        except openai.APIConnectionError as exc:
            message = self._scrub(f"cannot reach {self.base_url}: {exc}")
            raise EngineConnectionError(message) from exc
        except openai.APIStatusError as exc:
            raise EngineHTTPError(
                self._scrub(f"HTTP {exc.status_code}: {exc.message}"),
                exc.status_code,
                _retry_after(exc.response.headers.get("retry-after")),
            ) from exc

        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        cost = token_cost(
            prompt_tokens, completion_tokens, self.price_in_per_mtok, self.price_out_per_mtok
        )
        choice = response.choices[0] if response.choices else None
        content = choice.message.content if choice is not None else None
        try:
            vlm = parse_vlm_json(content)
        except EngineError as exc:
            if choice is not None and choice.finish_reason == "length":
                exc.args = (f"{exc} (truncated: max_tokens={self.max_tokens} reached)",)
            exc.prompt_tokens, exc.completion_tokens, exc.cost_usd = (
                prompt_tokens,
                completion_tokens,
                cost,
            )
            raise
        return EngineAnswer(
            items=vlm_items(vlm, width, height),
            vlm=vlm,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )

    def _data_url(self, image_bytes: bytes) -> str:
        mime = next((m for magic, m in _MIME.items() if image_bytes.startswith(magic)), None)
        if image_bytes[:4] == b"RIFF" and image_bytes[8:12] == b"WEBP":
            mime = "image/webp"
        if mime is None or self.max_image_side is not None:
            image_bytes, mime = _shrink(image_bytes, mime, self.max_image_side)
        return f"data:{mime};base64,{base64.b64encode(image_bytes).decode('ascii')}"


def _shrink(data: bytes, mime: str | None, max_side: int | None) -> tuple[bytes, str]:
    """Re-encode pages that are too big (tokens cost money) or in a format VLMs refuse.

    ``box_2d`` is relative to the page, so answers about a smaller copy map back unchanged.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if mime is not None and (max_side is None or max(image.size) <= max_side):
            return data, mime
        image = image.convert("RGB")
        if max_side is not None and max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
    return out.getvalue(), "image/jpeg"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date; the exponential backoff is good enough then
        return None
