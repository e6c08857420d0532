"""Page text extraction (plain Python, no Dagster): engines and their fallback cascade.

Engines: ``OcrEngine`` (RapidOCR, offline, the default), ``OpenAIEngine`` (any
OpenAI-compatible chat endpoint) and ``TransformersEngine`` (a local VLM). ``TextCascade``
tries them in order per page, with retries, caching (``TextCache``) and cost accounting.
Heavy libraries load inside the engines, so importing this package is cheap.
"""

from comix_resources.text.base import (
    KINDS,
    OUTCOMES,
    Attempt,
    EngineAnswer,
    EngineConfigError,
    EngineConnectionError,
    EngineEmpty,
    EngineError,
    EngineHTTPError,
    EngineJSONError,
    EngineSchemaError,
    EngineTimeout,
    PageInput,
    PageTextResult,
    TextEngine,
    TextItem,
    token_cost,
)
from comix_resources.text.cache import TextCache
from comix_resources.text.cascade import (
    TextCascade,
    backoff_delay,
    cascade_counts,
    cascade_summary,
    result_row,
)
from comix_resources.text.ocr import OcrEngine
from comix_resources.text.openai_engine import OpenAIEngine
from comix_resources.text.schema import (
    PROMPT_VERSION,
    VLM_PROMPT,
    box_2d_to_bbox,
    parse_vlm_json,
    validate_vlm,
    vlm_items,
)
from comix_resources.text.transformers_engine import TransformersEngine

__all__ = [
    "KINDS",
    "OUTCOMES",
    "PROMPT_VERSION",
    "VLM_PROMPT",
    "Attempt",
    "EngineAnswer",
    "EngineConfigError",
    "EngineConnectionError",
    "EngineEmpty",
    "EngineError",
    "EngineHTTPError",
    "EngineJSONError",
    "EngineSchemaError",
    "EngineTimeout",
    "OcrEngine",
    "OpenAIEngine",
    "PageInput",
    "PageTextResult",
    "TextCache",
    "TextCascade",
    "TextEngine",
    "TextItem",
    "TransformersEngine",
    "backoff_delay",
    "box_2d_to_bbox",
    "cascade_counts",
    "cascade_summary",
    "parse_vlm_json",
    "result_row",
    "token_cost",
    "validate_vlm",
    "vlm_items",
]
