"""The page_quality table of a collection: features and the comic / non-comic verdict per page."""

from __future__ import annotations

import polars as pl

from comix_resources.detection.files import load_image
from comix_resources.errors import describe_failure
from comix_resources.lake import Lake
from comix_resources.quality.classify import QualityThresholds, classify_page
from comix_resources.quality.features import page_features
from comix_resources.tables import PAGE_QUALITY, QUALITY_FEATURES

FEATURE_SCHEMA = QUALITY_FEATURES
PAGE_QUALITY_SCHEMA = PAGE_QUALITY.schema

# A "panel" mostly covered by text boxes is a paragraph the detector framed, not a picture.
TEXT_PANEL_MAX_COVER = 0.5


def _text_cover(panel: list[int], text_boxes: list[list[int]]) -> float:
    x, y, w, h = panel
    inside = 0
    for tx, ty, tw, th in text_boxes:
        overlap_w = min(x + w, tx + tw) - max(x, tx)
        overlap_h = min(y + h, ty + th) - max(y, ty)
        if overlap_w > 0 and overlap_h > 0:
            inside += overlap_w * overlap_h
    return min(1.0, inside / max(w * h, 1))


def picture_panel_count(panels: list[list[int]], text_boxes: list[list[int]]) -> int:
    """Panels that hold a picture: those less than half covered by text boxes."""
    return sum(_text_cover(panel, text_boxes) < TEXT_PANEL_MAX_COVER for panel in panels)


UNREADABLE = "unreadable"


def unreadable_row(page_id: str, path: str, error: Exception) -> dict[str, object]:
    """The verdict on a page that cannot be decoded: not usable as a comic page."""
    return {
        "page_id": page_id,
        **dict.fromkeys(FEATURE_SCHEMA),
        "is_comic": False,
        "flags": [UNREADABLE],
        "reasons": f"{UNREADABLE}: {path}: {describe_failure(error)}",
    }


def page_quality_table(
    lake: Lake,
    pages: pl.DataFrame,
    panels: pl.DataFrame,
    page_text: pl.DataFrame,
    thresholds: QualityThresholds | None = None,
) -> pl.DataFrame:
    """One row per readable page; text boxes come from page_text, panel counts from panels.

    The panel count is of picture panels: on a prose page the detector frames paragraphs,
    which must not make the page look like a comic layout. A page whose image cannot be
    decoded (damaged scan data behind a valid header) is judged non-comic with the flag
    ``unreadable`` and the decoder's message, its features left null: the rest go on.
    """
    panel_boxes: dict[str, list[list[int]]] = {}
    for row in panels.filter(pl.col("category") == "panel").iter_rows(named=True):
        panel_boxes.setdefault(row["page_id"], []).append(row["bbox"])
    text_boxes: dict[str, list[list[int]]] = {}
    for row in page_text.filter(pl.col("status") == "ok").iter_rows(named=True):
        text_boxes[row["page_id"]] = [item["bbox"] for item in row["items"] if item["bbox"]]
    rows = []
    for page in pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True):
        boxes = text_boxes.get(page["page_id"], [])
        try:
            with lake.fs.open(lake.path(page["path"]), "rb") as handle:
                image = load_image(handle)
            features = page_features(
                image, boxes, picture_panel_count(panel_boxes.get(page["page_id"], []), boxes)
            )
            is_comic, flags, reasons = classify_page(features, thresholds)
        except Exception as error:  # one bad image must not stop the collection
            rows.append(unreadable_row(page["page_id"], page["path"], error))
            continue
        rows.append(
            {
                "page_id": page["page_id"],
                **{key: features[key] for key in FEATURE_SCHEMA},
                "is_comic": is_comic,
                "flags": flags,
                "reasons": "; ".join(f"{flag}: {reason}" for flag, reason in reasons.items()),
            }
        )
    return pl.DataFrame(rows, schema=PAGE_QUALITY_SCHEMA, orient="row")
