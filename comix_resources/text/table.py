"""The page_text table of a collection: one row per page, reused while its inputs are unchanged.

A page keeps its earlier row when its image bytes (sha256) and the cascade configuration are
the same and it succeeded: a re-materialization pays for nothing twice and writes a
byte-identical table; failed pages are tried again. Across collections, the engine cache
(``TextCache``) still saves calls for identical pages.

Each page is decoded once, in a worker process (``parallel_map``), and everything that needs
its pixels happens on that decode: the quality features that need no text, the OCR's
detection stage, the triage verdict (``quality.triage``) and, for a cascade of local engines,
the cascade itself (OCR then only recognises the lines detection found). A cascade with a
remote engine reads the pages on threads instead, many requests in flight. The page's
quality features, finished with its text boxes, go into the row (``features``), so that
``page_quality`` judges the page without decoding it again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from comix_resources.images import load_rgb
from comix_resources.lake import Lake
from comix_resources.parallel import parallel_map
from comix_resources.quality import (
    NON_COMIC,
    TRIAGE_VERSION,
    ImageMeasures,
    QualityThresholds,
    Triage,
    measure_image,
    panel_art_shares,
    picture_panel_count,
    text_features,
    triage_page,
)
from comix_resources.tables import PAGE_TEXT, TEXT_ITEM
from comix_resources.text.base import PageInput, PageTextResult, TextEngine
from comix_resources.text.cascade import (
    PreparedPage,
    TextCascade,
    cascade_summary,
    failed_result,
)
from comix_resources.text.ocr import PREPROCESS_MAX_SIDE, OcrEngine, line_blocks, prepared

ITEM_SCHEMA = TEXT_ITEM
PAGE_TEXT_SCHEMA = PAGE_TEXT.schema


def cascade_signature(engines: Sequence[TextEngine], prompt_version: str, triage: str = "") -> str:
    """Which engines, models, prompt and triage produced a row; a change re-reads every page."""
    spec = [[engine.name, engine.model] for engine in engines] + [[prompt_version]]
    if triage:
        spec.append([triage])
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]


def _row(
    result: PageTextResult,
    sha256: str,
    signature: str,
    triage: Triage | None = None,
    features: dict[str, object] | None = None,
) -> dict[str, object]:
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
        "triage": triage.verdict if triage else None,
        "triage_reason": triage.reason if triage else None,
        "skipped": result.skipped,
        "features": json.dumps(features, sort_keys=True) if features is not None else None,
    }


@dataclass(frozen=True)
class _Task:
    page_id: str
    image: str | bytes  # a local path or the bytes
    sha256: str
    width: int
    height: int
    panels: list[list[int]]


@dataclass(frozen=True)
class _Stage:
    detector: OcrEngine  # the detection stage of the triage (and of OCR when it reads)
    cascade: TextCascade | None  # set when the whole cascade runs in the workers
    thresholds: QualityThresholds


@dataclass(frozen=True)
class _Done:
    page_id: str
    triage: Triage | None
    measures: tuple | None  # ImageMeasures.packed()
    blocks: list[list[int]]  # detection-only text boxes, page pixels
    result: PageTextResult | None
    error: str | None = None


def _xywh_boxes(boxes: Sequence[tuple[float, float, float, float]], sx: float, sy: float):
    return [
        [round(x0 * sx), round(y0 * sy), round((x1 - x0) * sx), round((y1 - y0) * sy)]
        for x0, y0, x1, y1 in boxes
    ]


def _prepare_page(stage: _Stage, task: _Task) -> _Done:
    """One decode of one page: features, detection, triage and (local cascades) the text."""
    try:
        image = prepared(load_rgb(task.image, PREPROCESS_MAX_SIDE))
    except Exception as exc:  # a broken image is that page's problem, not the partition's
        return _Done(task.page_id, None, None, [], None, f"unreadable image: {exc}")
    measures = measure_image(image, (task.width, task.height))
    quads = stage.detector.detect_lines(image)
    sx, sy = task.width / image.shape[1], task.height / image.shape[0]
    blocks = _xywh_boxes(line_blocks(quads), sx, sy)
    art = panel_art_shares(measures, blocks, task.panels)
    features = text_features(measures, blocks, picture_panel_count(task.panels, blocks, art))
    triage = triage_page(features, len(quads), stage.thresholds)
    result = None
    if stage.cascade is not None:
        ready = PreparedPage(image, quads, triage.verdict == NON_COMIC, triage.reason)
        page = PageInput(task.page_id, task.image, task.sha256, task.width, task.height)
        result = stage.cascade.extract_page(page, ready)
    return _Done(task.page_id, triage, measures.packed(), blocks, result)


def _final_features(
    done: _Done, result: PageTextResult, panels: list[list[int]] | None
) -> dict[str, object] | None:
    """The page's quality features with its final text boxes; the picture-panel count when
    the panels were given (page_quality counts them itself otherwise)."""
    if done.measures is None:
        return None
    if result.skipped:
        boxes = done.blocks  # nothing was read: detection's boxes are the page's text
    else:
        boxes = [list(item.bbox) for item in result.items if item.bbox]
    measures = ImageMeasures.unpacked(done.measures)
    count = 0
    if panels is not None:
        count = picture_panel_count(panels, boxes, panel_art_shares(measures, boxes, panels))
    features = text_features(measures, boxes, count)
    if panels is None:
        features.pop("panel_count")
    if result.skipped:
        features["text_boxes"] = boxes
    return features


def extract_page_text(
    lake: Lake,
    pages: pl.DataFrame,
    cascade: TextCascade,
    previous: pl.DataFrame | None = None,
    panels: pl.DataFrame | None = None,
    thresholds: QualityThresholds | None = None,
    workers: int | None = None,
    detector: OcrEngine | None = None,
) -> tuple[pl.DataFrame, dict[str, object]]:
    """``(page_text table, run summary)``; ``previous`` is the partition's last table, if any;
    ``panels`` (the partition's panels table) gives the triage its panel layout."""
    thresholds = thresholds or QualityThresholds()
    signature = cascade_signature(
        cascade.engines,
        cascade.prompt_version,
        f"{TRIAGE_VERSION}/skip-ocr={cascade.skip_ocr_non_comic}/{thresholds}",
    )
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
    panel_boxes: dict[str, list[list[int]]] = {}
    if panels is not None:
        for row in panels.filter(pl.col("category") == "panel").iter_rows(named=True):
            panel_boxes.setdefault(row["page_id"], []).append(row["bbox"])
    tasks = [
        _Task(
            page["page_id"],
            str(lake.local_path(lake.path(page["path"])))
            if lake.is_local
            else lake.read_bytes(lake.path(page["path"])),
            page["sha256"],
            page["width"],
            page["height"],
            panel_boxes.get(page["page_id"], []),
        )
        for page in todo
    ]
    detector = (
        detector
        or next((e for e in cascade.engines if isinstance(e, OcrEngine)), None)
        or OcrEngine()
    )
    stage = _Stage(detector, cascade if cascade.is_local else None, thresholds)
    # a page is ~0.5 s of CPU, a worker's start ~2 s: from a handful of pages on it pays
    done, cost = parallel_map(_prepare_page, tasks, stage, workers, min_items_per_worker=4)
    results = _read_remote(cascade, tasks, done) if stage.cascade is None else None
    fresh: dict[str, dict[str, object]] = {}
    final: list[PageTextResult] = []
    for i, (page, item) in enumerate(zip(todo, done, strict=True)):
        if item.error is not None:
            result = failed_result(item.page_id, item.error)
        else:
            result = item.result if results is None else results[i]
        final.append(result)
        fresh[item.page_id] = _row(
            result,
            page["sha256"],
            signature,
            item.triage,
            _final_features(
                item, result, panel_boxes.get(page["page_id"], []) if panels is not None else None
            ),
        )
    rows = [
        fresh.get(page_id) or kept[page_id]
        for page_id in readable["page_id"]
        if page_id in fresh or page_id in kept
    ]
    table = pl.DataFrame(rows, schema=PAGE_TEXT_SCHEMA, orient="row")
    summary = cascade_summary(final)
    summary["reused"] = readable.height - len(todo)
    summary["triage"] = dict(Counter(d.triage.verdict for d in done if d.triage))
    summary["skipped"] = sum(bool(r.skipped) for r in final)
    summary["workers"] = cost.as_metadata()
    return table, summary


def _read_remote(
    cascade: TextCascade, tasks: Sequence[_Task], done: Sequence[_Done]
) -> list[PageTextResult]:
    """The cascade on threads, ``max_concurrency`` pages in flight (remote engines wait on the
    network, not on a core); the triage's verdicts come from the workers."""

    def read(pair: tuple[_Task, _Done]) -> PageTextResult:
        task, item = pair
        page = PageInput(task.page_id, task.image, task.sha256, task.width, task.height)
        if item.triage is None:
            return cascade.extract_page(page)
        ready = PreparedPage(None, (), item.triage.verdict == NON_COMIC, item.triage.reason)
        return cascade.extract_page(page, ready)

    with ThreadPoolExecutor(cascade.max_concurrency, thread_name_prefix="page-text") as pool:
        return list(pool.map(read, zip(tasks, done, strict=True)))
