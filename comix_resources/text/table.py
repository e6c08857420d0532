"""The page_text table of a collection: one row per page, reused while its inputs are unchanged.

A page keeps its earlier row when its image bytes (sha256) and the cascade configuration are
the same and it succeeded: a re-materialization pays for nothing twice and writes a
byte-identical table; failed pages are tried again. Across collections, the engine cache
(``TextCache``) still saves calls for identical pages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import polars as pl

from comix_resources.lake import Lake
from comix_resources.tables import PAGE_TEXT, TEXT_ITEM
from comix_resources.text.base import PageInput, PageTextResult, TextEngine
from comix_resources.text.cascade import TextCascade, cascade_summary

ITEM_SCHEMA = TEXT_ITEM
PAGE_TEXT_SCHEMA = PAGE_TEXT.schema


def cascade_signature(engines: Sequence[TextEngine], prompt_version: str) -> str:
    """Which engines, models and prompt produced a row; a change re-reads every page."""
    spec = [[engine.name, engine.model] for engine in engines] + [[prompt_version]]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]


def _row(result: PageTextResult, sha256: str, signature: str) -> dict[str, object]:
    return {
        "page_id": result.page_id,
        "sha256": sha256,
        "cascade": signature,
        "status": result.status,
        "engine": result.engine,
        "model": result.model,
        "attempts": result.attempts,
        "error_kinds": list(result.error_kinds),
        "latency_s": round(result.latency_s, 3),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": result.cost_usd,
        "error": result.error,
        "items": [
            {**item.to_json(), "bbox": list(item.bbox) if item.bbox else None}
            for item in result.items
        ],
        "vlm": json.dumps(result.vlm, sort_keys=True) if result.vlm is not None else None,
    }


def extract_page_text(
    lake: Lake,
    pages: pl.DataFrame,
    cascade: TextCascade,
    previous: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, object]]:
    """``(page_text table, run summary)``; ``previous`` is the partition's last table, if any."""
    signature = cascade_signature(cascade.engines, cascade.prompt_version)
    readable = pages.filter(pl.col("status") == "ok").sort("page_id")
    kept: dict[str, dict[str, object]] = {}
    if previous is not None and set(PAGE_TEXT_SCHEMA) <= set(previous.columns):
        for row in previous.filter(
            (pl.col("status") == "ok") & (pl.col("cascade") == signature)
        ).iter_rows(named=True):
            kept[row["page_id"]] = row
    todo = [
        page
        for page in readable.iter_rows(named=True)
        if kept.get(page["page_id"], {}).get("sha256") != page["sha256"]
    ]
    inputs = [
        PageInput(
            page_id=page["page_id"],
            image=lake.local_path(lake.path(page["path"]))
            if lake.is_local
            else lake.read_bytes(lake.path(page["path"])),
            sha256=page["sha256"],
            width=page["width"],
            height=page["height"],
        )
        for page in todo
    ]
    results = cascade.extract_pages(inputs)
    fresh = {
        result.page_id: _row(result, page["sha256"], signature)
        for result, page in zip(results, todo, strict=True)
    }
    rows = [
        fresh.get(page_id) or kept[page_id]
        for page_id in readable["page_id"]
        if page_id in fresh or page_id in kept
    ]
    table = pl.DataFrame(rows, schema=PAGE_TEXT_SCHEMA, orient="row")
    summary = cascade_summary(results)
    summary["reused"] = readable.height - len(todo)
    return table, summary
