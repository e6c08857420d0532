"""The page_quality table of a collection: features and the comic / non-comic verdict per page."""

from __future__ import annotations

import polars as pl

from comix_resources.boxes import intersection_matrix
from comix_resources.detection.files import load_image
from comix_resources.lake import Lake
from comix_resources.quality.classify import QualityThresholds, classify_page
from comix_resources.quality.features import page_features

FEATURE_SCHEMA: dict[str, pl.DataType] = {
    "width": pl.Int64(),
    "height": pl.Int64(),
    "aspect_ratio": pl.Float64(),
    "orientation": pl.String(),
    "mean_brightness": pl.Float64(),
    "brightness_std": pl.Float64(),
    "ink_coverage": pl.Float64(),
    "edge_density": pl.Float64(),
    "saturation": pl.Float64(),
    "text_area_fraction": pl.Float64(),
    "art_fraction": pl.Float64(),
    "text_box_count": pl.Int64(),
    "panel_count": pl.Int64(),
}
PAGE_QUALITY_SCHEMA: dict[str, pl.DataType] = {
    "page_id": pl.String(),
    **FEATURE_SCHEMA,
    "is_comic": pl.Boolean(),
    "flags": pl.List(pl.String()),
    "reasons": pl.String(),
}


# A "panel" mostly covered by text boxes is a paragraph the detector framed, not a picture.
TEXT_PANEL_MAX_COVER = 0.5


def _text_cover(panel: list[int], text_boxes: list[list[int]]) -> float:
    inside = float(intersection_matrix([panel], text_boxes).sum()) if text_boxes else 0.0
    return min(1.0, inside / max(panel[2] * panel[3], 1))


def picture_panel_count(panels: list[list[int]], text_boxes: list[list[int]]) -> int:
    """Panels that hold a picture: those less than half covered by text boxes."""
    return sum(_text_cover(panel, text_boxes) < TEXT_PANEL_MAX_COVER for panel in panels)


def page_quality_table(
    lake: Lake,
    pages: pl.DataFrame,
    panels: pl.DataFrame,
    page_text: pl.DataFrame,
    thresholds: QualityThresholds | None = None,
) -> pl.DataFrame:
    """One row per readable page; text boxes come from page_text, panel counts from panels.

    The panel count is of picture panels: on a prose page the detector frames paragraphs,
    which must not make the page look like a comic layout.
    """
    panel_boxes: dict[str, list[list[int]]] = {}
    for row in panels.filter(pl.col("category") == "panel").iter_rows(named=True):
        panel_boxes.setdefault(row["page_id"], []).append(row["bbox"])
    text_boxes: dict[str, list[list[int]]] = {}
    for row in page_text.filter(pl.col("status") == "ok").iter_rows(named=True):
        text_boxes[row["page_id"]] = [item["bbox"] for item in row["items"] if item["bbox"]]
    rows = []
    for page in pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True):
        with lake.fs.open(lake.path(page["path"]), "rb") as handle:
            image = load_image(handle)
        boxes = text_boxes.get(page["page_id"], [])
        features = page_features(
            image, boxes, picture_panel_count(panel_boxes.get(page["page_id"], []), boxes)
        )
        is_comic, flags, reasons = classify_page(features, thresholds)
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
