"""Panels of a collection's pages: the lake table rows and the COCO file, from any detector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from comix_resources.detection.base import COVER, Detection, PanelDetector
from comix_resources.detection.coco import detections_to_coco, detections_to_rows, panels_schema
from comix_resources.images import load_page
from comix_resources.lake import Lake
from comix_resources.parallel import MapCost, parallel_map


@dataclass(frozen=True)
class _Detect:
    detector: PanelDetector


def _detect_one(stage: _Detect, page: tuple[str | bytes, bool, str | None]) -> Detection | str:
    image, rtl, page_type = page
    try:
        pixels = load_page(image, mode="keep").pixels
        return stage.detector.detect(pixels, rtl=rtl, page_type=page_type)
    except Exception as error:  # one bad image must not stop the collection
        return f"{type(error).__name__}: {error}"


def detect_pages(
    lake: Lake,
    pages: pl.DataFrame,
    detector: PanelDetector,
    rtl: bool = False,
    on_page: Callable[[str], None] | None = None,
    workers: int | None = 1,
    rtl_books: Mapping[str, bool] | None = None,
) -> tuple[pl.DataFrame, dict, dict[str, str]]:
    """Detect every readable page: ``(panels table, COCO dict, failures by page_id)``.

    ``rtl`` is the collection's reading direction; ``rtl_books`` (``book_id`` -> right to
    left) overrides it for the books that declare their own. A page whose image cannot be
    decoded is a failure with its reason; the others go on. A book's first page is its cover,
    as the page-type rules say before any model exists (page types come later in the graph,
    from these panels): one panel by convention.
    ``workers`` > 1 (None: ``COMIX_WORKERS`` or every core) detects on that many processes.
    """
    table, coco, failures, _ = detect_pages_costed(
        lake, pages, detector, rtl, on_page, workers, rtl_books
    )
    return table, coco, failures


def detect_pages_costed(
    lake: Lake,
    pages: pl.DataFrame,
    detector: PanelDetector,
    rtl: bool = False,
    on_page: Callable[[str], None] | None = None,
    workers: int | None = None,
    rtl_books: Mapping[str, bool] | None = None,
) -> tuple[pl.DataFrame, dict, dict[str, str], MapCost]:
    """``detect_pages`` and what it cost (workers, CPU seconds, peak memory per worker)."""
    rtl_books = rtl_books or {}
    readable = list(pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True))
    images = [
        (
            str(lake.local_path(lake.path(page["path"])))
            if lake.is_local
            else lake.read_bytes(lake.path(page["path"])),
            rtl_books.get(page["book_id"], rtl),
            COVER if page.get("page_index") == 0 else None,
        )
        for page in readable
    ]
    # a contour detection is ~30 ms of CPU: a worker pays for its start-up after ~100 pages
    outcomes, cost = parallel_map(
        _detect_one, images, _Detect(detector), workers, min_items_per_worker=100
    )
    detections: list[tuple[str, str, Detection]] = []
    failures: dict[str, str] = {}
    for page, outcome in zip(readable, outcomes, strict=True):
        if isinstance(outcome, str):
            failures[page["page_id"]] = outcome
            continue
        detections.append((page["page_id"], page["path"], outcome))
        if on_page is not None:
            on_page(page["page_id"])
    rows = detections_to_rows((page_id, detection) for page_id, _, detection in detections)
    table = pl.DataFrame(rows, schema=panels_schema(), orient="row")
    return table, detections_to_coco(detections), failures, cost
