"""The page_quality table of a collection: features and the comic / non-comic verdict per page.

The image features come from the page_text row when it has them (the text stage measured
them on its own decode of the page, with the page's final text boxes), so the verdict costs
no decoding; a page without them is decoded here, at the thumbnail size the features use.
"""

from __future__ import annotations

import json

import polars as pl

from comix_resources.boxes import intersection_matrix
from comix_resources.errors import describe_failure
from comix_resources.images import load_page
from comix_resources.lake import Lake
from comix_resources.quality.classify import QualityThresholds, classify_page
from comix_resources.quality.features import (
    ANALYSIS_SIDE,
    measure_image,
    text_features,
)
from comix_resources.tables import PAGE_QUALITY, QUALITY_FEATURES

FEATURE_SCHEMA = QUALITY_FEATURES
PAGE_QUALITY_SCHEMA = PAGE_QUALITY.schema

# A "panel" mostly covered by text boxes is a paragraph the detector framed, not a picture.
TEXT_PANEL_MAX_COVER = 0.5
# Nor is one with (almost) no drawing outside its text: a framed code listing or a block of
# prose the detector boxed (a programming book's pages: 0.0-0.2 % drawing in such boxes;
# comic panels are mostly drawing).
PICTURE_MIN_ART = 0.02


def _text_cover(panel: list[int], text_boxes: list[list[int]]) -> float:
    inside = float(intersection_matrix([panel], text_boxes).sum()) if text_boxes else 0.0
    return min(1.0, inside / max(panel[2] * panel[3], 1))


def picture_panel_count(
    panels: list[list[int]],
    text_boxes: list[list[int]],
    art_shares: list[float] | None = None,
) -> int:
    """Panels that hold a picture: less than half covered by text boxes and, when the
    panels' ``art_shares`` (``features.panel_art_shares``) are known, with some drawing."""
    shares = art_shares if art_shares is not None else [1.0] * len(panels)
    return sum(
        _text_cover(panel, text_boxes) < TEXT_PANEL_MAX_COVER and share >= PICTURE_MIN_ART
        for panel, share in zip(panels, shares, strict=True)
    )


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
    measured: dict[str, dict] = {}
    for row in page_text.filter(pl.col("status") == "ok").iter_rows(named=True):
        text_boxes[row["page_id"]] = [item["bbox"] for item in row["items"] if item["bbox"]]
        if row.get("features"):
            measured[row["page_id"]] = json.loads(row["features"])
            if row.get("skipped"):  # no text was read: detection's boxes stand for it
                text_boxes[row["page_id"]] = measured[row["page_id"]].pop("text_boxes", [])
    rows = []
    for page in pages.filter(pl.col("status") == "ok").sort("page_id").iter_rows(named=True):
        boxes = text_boxes.get(page["page_id"], [])
        panel_count = picture_panel_count(panel_boxes.get(page["page_id"], []), boxes)
        try:
            if page["page_id"] in measured:
                # the text stage counted picture panels with the drawing inside them, when it
                # was given the panels
                features = {"panel_count": panel_count, **measured[page["page_id"]]}
            else:
                with lake.fs.open(lake.path(page["path"]), "rb") as handle:
                    decoded = load_page(handle, ANALYSIS_SIDE)
                features = text_features(
                    measure_image(decoded.pixels, (page["width"], page["height"])),
                    boxes,
                    panel_count,
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


MOSTLY_NON_COMIC = 0.5  # a book with at least this share of non-comic pages is reported


def mostly_non_comic_books(
    quality: pl.DataFrame, pages: pl.DataFrame, min_share: float = MOSTLY_NON_COMIC
) -> pl.DataFrame:
    """Books whose pages are mostly non-comic (a programming book among the comics): one row
    each with ``book_id``, ``pages``, ``non_comic`` and ``non_comic_share``, worst first."""
    return (
        quality.join(pages.select("page_id", "book_id"), on="page_id")
        .group_by("book_id")
        .agg(pl.len().alias("pages"), (~pl.col("is_comic")).sum().alias("non_comic"))
        .with_columns((pl.col("non_comic") / pl.col("pages")).round(3).alias("non_comic_share"))
        .filter(pl.col("non_comic_share") >= min_share)
        .sort(["non_comic_share", "book_id"], descending=[True, False])
    )
