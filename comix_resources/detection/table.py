"""Panels of a collection's pages: the lake table rows and the COCO file, from any detector."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from comix_resources.detection.base import COVER, Detection, PanelDetector
from comix_resources.detection.coco import detections_to_coco, detections_to_rows, panels_schema
from comix_resources.detection.files import load_image
from comix_resources.lake import Lake


def detect_pages(
    lake: Lake,
    pages: pl.DataFrame,
    detector: PanelDetector,
    rtl: bool = False,
    on_page: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, dict, dict[str, str]]:
    """Detect every readable page: ``(panels table, COCO dict, failures by page_id)``.

    A page whose image cannot be decoded is a failure with its reason; the others go on. A
    book's first page is its cover, as the page-type rules say before any model exists
    (page types come later in the graph, from these panels): one panel by convention.
    """
    detections: list[tuple[str, str, Detection]] = []
    failures: dict[str, str] = {}
    for page in pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True):
        try:
            with lake.fs.open(lake.path(page["path"]), "rb") as handle:
                image = load_image(handle)
            page_type = COVER if page.get("page_index") == 0 else None
            detection = detector.detect(image, rtl=rtl, page_type=page_type)
        except Exception as error:  # one bad image must not stop the collection
            failures[page["page_id"]] = f"{type(error).__name__}: {error}"
            continue
        detections.append((page["page_id"], page["path"], detection))
        if on_page is not None:
            on_page(page["page_id"])
    rows = detections_to_rows((page_id, detection) for page_id, _, detection in detections)
    table = pl.DataFrame(rows, schema=panels_schema(), orient="row")
    return table, detections_to_coco(detections), failures
