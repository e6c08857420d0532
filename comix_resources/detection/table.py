"""Panels of a collection's pages: the lake table rows and the COCO file, from any detector."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from comix_resources.detection.base import Detection, PanelDetector
from comix_resources.detection.coco import detections_to_coco, detections_to_rows, panels_schema
from comix_resources.detection.files import load_image
from comix_resources.lake import Lake


def detect_pages(
    lake: Lake,
    pages: pl.DataFrame,
    detector: PanelDetector,
    rtl: bool = False,
    on_page: Callable[[str], None] | None = None,
    rtl_books: Mapping[str, bool] | None = None,
) -> tuple[pl.DataFrame, dict, dict[str, str]]:
    """Detect every readable page: ``(panels table, COCO dict, failures by page_id)``.

    ``rtl`` is the collection's reading direction; ``rtl_books`` (``book_id`` -> right to
    left) overrides it for the books that declare their own. A page whose image cannot be
    decoded is a failure with its reason; the others go on.
    """
    rtl_books = rtl_books or {}
    detections: list[tuple[str, str, Detection]] = []
    failures: dict[str, str] = {}
    for page in pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True):
        try:
            with lake.fs.open(lake.path(page["path"]), "rb") as handle:
                image = load_image(handle)
            detection = detector.detect(image, rtl=rtl_books.get(page["book_id"], rtl))
        except Exception as error:  # one bad image must not stop the collection
            failures[page["page_id"]] = f"{type(error).__name__}: {error}"
            continue
        detections.append((page["page_id"], page["path"], detection))
        if on_page is not None:
            on_page(page["page_id"])
    rows = detections_to_rows((page_id, detection) for page_id, _, detection in detections)
    table = pl.DataFrame(rows, schema=panels_schema(), orient="row")
    return table, detections_to_coco(detections), failures
