"""Small, valid lake tables (panels, pages, dataspec, page_quality) that tests then break."""

from __future__ import annotations

import polars as pl
import pytest

from comix_resources.detection import CATEGORY_IDS, panels_schema
from comix_resources.expectations import validate_frame
from comix_resources.tables import DATASPEC, PAGE_QUALITY, LakeTable

PAGE_IDS = ("book-0000", "book-0001", "book-0002")
WIDTH, HEIGHT = 1000, 1500


@pytest.fixture(scope="session", autouse=True)
def gx_context() -> None:
    """Pay GX's import and context creation (seconds) once, not in the first test."""
    import great_expectations.expectations as gxe

    validate_frame(
        pl.DataFrame({"page_id": ["warm-up"]}),
        "warm_up",
        [gxe.ExpectColumnValuesToNotBeNull(column="page_id")],
    )


def pages_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"page_id": PAGE_IDS, "width": [WIDTH] * 3, "height": [HEIGHT] * 3},
        schema={"page_id": pl.String, "width": pl.Int64, "height": pl.Int64},
    )


def panels_frame() -> pl.DataFrame:
    """Per page: three panels (orders 0..2, the last one touching the corner) and one each of
    the other categories (order -1)."""
    boxes = [[0, 0, 500, 700], [500, 0, 500, 700], [0, 700, WIDTH, HEIGHT - 700]]
    rows = []
    for page_id in PAGE_IDS:
        rows += [(page_id, "panel", box, order) for order, box in enumerate(boxes)]
        rows += [(page_id, kind, [10, 10, 50, 40], -1) for kind in ("character", "text", "face")]
    return pl.DataFrame(
        [
            {
                "page_id": page_id,
                "category": category,
                "category_id": CATEGORY_IDS[category],
                "bbox": box,
                "score": 0.9,
                "order": order,
                "detector": "contour",
                "detector_version": "1",
            }
            for page_id, category, box, order in rows
        ],
        schema=panels_schema(),
    )


def declared(table: LakeTable, columns: dict[str, list]) -> pl.DataFrame:
    """A frame of ``table``'s declared schema with these columns set, the others null."""
    rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return pl.DataFrame(rows, schema=dict(table.schema))


def dataspec_frame() -> pl.DataFrame:
    """Three pages with two panels each; text and flags vary so every rate is 2/3 or 1/3."""
    panels = [
        {"panel_coords": [0, 0, 500, 700], "order": 0},
        {"panel_coords": [0, 700, WIDTH, HEIGHT - 700], "order": 1},
    ]
    return declared(
        DATASPEC,
        {
            "page_id": PAGE_IDS,
            "page_size": [{"width": WIDTH, "height": HEIGHT}] * 3,
            "panels": [panels] * 3,
            "n_texts": [4, 2, 0],
            "n_texts_assigned": [4, 1, 0],
            "text_panel_count": [2, 1, 0],
            "detector_panel_count": [2, 2, 2],
            "panel_ratio": [1.0, 0.5, 0.0],
            "is_perfect_match": [True, False, False],
            "alignment_method": ["geometry", "count", "none"],
            "alignment_score": [0.95, 0.5, None],
            "is_aligned": [True, False, True],
            "quality_score": [4, 1, 1],
        },
    )


def page_quality_frame() -> pl.DataFrame:
    return declared(
        PAGE_QUALITY,
        {
            "page_id": PAGE_IDS,
            "is_comic": [True, True, False],
            "flags": [[], ["spread"], ["blank"]],
            "mean_brightness": [0.6, 0.5, 0.99],
            "ink_coverage": [0.3, 0.4, 0.0],
            "text_box_count": [5, 3, 0],
        },
    )
