"""coco_to_dataspec over small lake tables, and the DataSpec v0.3 JSON export."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from comix_resources.dataspec import (
    DATASPEC_SCHEMA,
    coco_to_dataspec,
    export_dataspec_json,
    to_dataspec_v03,
)

PAGES = pl.DataFrame(
    {
        "page_id": ["b-0001", "b-0000", "b-0002", "b-0003"],
        "book_id": ["b"] * 4,
        "page_index": [1, 0, 2, 3],
        "path": [f"pages/b/{i:04d}.jpg" for i in (1, 0, 2, 3)],
        "width": [1000] * 4,
        "height": [1000] * 4,
        "status": ["ok", "ok", "ok", "error"],
    }
)


def _detection(page_id: str, category: str, bbox: list[int], order: int | None) -> dict:
    return {
        "page_id": page_id,
        "category": category,
        "category_id": {"panel": 1, "character": 2, "face": 7}[category],
        "bbox": bbox,
        "score": 0.9,
        "order": order,
        "detector": "contour",
        "detector_version": "1",
    }


# Detector rows arrive in any order; ``order`` decides.
PANELS = pl.DataFrame(
    [
        _detection("b-0000", "panel", [0, 500, 1000, 500], 1),
        _detection("b-0000", "panel", [0, 0, 1000, 480], 0),
        _detection("b-0000", "face", [10, 10, 50, 50], None),
        _detection("b-0000", "character", [5, 5, 200, 400], None),
        _detection("b-0001", "panel", [0, 0, 480, 1000], 0),
        _detection("b-0001", "panel", [520, 0, 480, 1000], 1),
    ]
)

OCR_ITEMS = [
    {
        "text": "Hello there",
        "kind": "dialogue",
        "bbox": [100, 100, 200, 50],
        "speaker": None,
        "panel_number": None,
    },
    {
        "text": "Meanwhile",
        "kind": "narration",
        "bbox": [100, 600, 200, 50],
        "speaker": None,
        "panel_number": None,
    },
    {
        "text": "BOOM",
        "kind": "sfx",
        "bbox": [300, 700, 100, 80],
        "speaker": None,
        "panel_number": None,
    },
]

VLM = {
    "overall_summary": "Two panels.",
    "panels": [
        {
            "panel_number": 1,
            "box_2d": [0, 0, 1000, 480],
            "caption": "",
            "description": "Ann",
            "speakers": [{"character": "Ann", "dialogue": "Hi Bob", "speech_type": "speech"}],
            "key_elements": [],
            "actions": [],
        },
        {
            "panel_number": 2,
            "box_2d": [0, 520, 1000, 1000],
            "caption": "Later",
            "description": "Bob",
            "speakers": [{"character": "Bob", "dialogue": "Hi Ann", "speech_type": "speech"}],
            "key_elements": [],
            "actions": [],
        },
    ],
    "characters": ["Ann", {"name": "Bob"}],
    "text_content": [],
}
VLM_ITEMS = [
    {"text": "Later", "kind": "narration", "bbox": None, "speaker": None, "panel_number": 2},
    {"text": "Hi Bob", "kind": "dialogue", "bbox": None, "speaker": "Ann", "panel_number": 1},
    {"text": "Hi Ann", "kind": "dialogue", "bbox": None, "speaker": "Bob", "panel_number": 2},
]

PAGE_TEXT = pl.DataFrame(
    {
        "page_id": ["b-0000", "b-0001", "b-0002"],
        "engine": ["ocr", "openai", "ocr"],
        "model": ["rapidocr", "qwen", "rapidocr"],
        "status": ["ok", "ok", "failed"],
        "items": [json.dumps(OCR_ITEMS), json.dumps(VLM_ITEMS), None],
        "vlm": [None, json.dumps(VLM), None],
    }
)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return coco_to_dataspec(PAGES, PANELS, PAGE_TEXT, "amazon", "star-runners")


def test_one_row_per_ok_page_sorted_with_the_schema(frame: pl.DataFrame) -> None:
    assert frame.schema == DATASPEC_SCHEMA
    assert frame["page_id"].to_list() == ["b-0000", "b-0001", "b-0002"]


def test_ocr_page_is_aligned_by_geometry(frame: pl.DataFrame) -> None:
    row = frame.row(0, named=True)
    assert [p["panel_coords"] for p in row["panels"]] == [[0, 0, 1000, 480], [0, 500, 1000, 500]]
    assert row["reading_order"] == [0, 1]
    assert row["panels"][0]["text"] == {"dialogue": ["Hello there"], "narration": [], "sfx": []}
    assert row["panels"][1]["text"] == {"dialogue": [], "narration": ["Meanwhile"], "sfx": ["BOOM"]}
    assert [t["panel"] for t in row["texts"]] == [0, 1, 1]
    assert row["alignment_method"] == "geometry"
    assert row["is_aligned"] and row["is_perfect_match"]
    assert (row["text_panel_count"], row["detector_panel_count"]) == (2, 2)
    assert row["quality_score"] == 4
    assert row["faces"] == [{"bbox": [10, 10, 50, 50], "score": 0.9}]
    assert row["character_boxes"] == [{"bbox": [5, 5, 200, 400], "score": 0.9}]
    assert row["page_size"] == {"width": 1000, "height": 1000}
    assert (row["detector"], row["text_engine"]) == ("contour", "ocr")


def test_vlm_page_follows_its_panels_by_iou(frame: pl.DataFrame) -> None:
    row = frame.row(1, named=True)
    assert row["alignment_method"] == "vlm_panels_iou"
    assert row["panels"][0]["text"]["dialogue"] == ["Hi Bob"]
    assert row["panels"][1]["text"] == {"dialogue": ["Hi Ann"], "narration": ["Later"], "sfx": []}
    assert row["panels"][0]["characters"] == ["Ann"]
    assert row["panels"][1]["description"] == "Bob"
    assert row["characters"] == ["Ann", "Bob"]
    assert row["is_aligned"] and row["is_perfect_match"]


def test_failed_text_gives_panels_without_text(frame: pl.DataFrame) -> None:
    row = frame.row(2, named=True)
    assert row["texts"] == [] and row["panels"] == []
    assert row["alignment_method"] == "none"
    assert not row["is_aligned"]
    assert row["alignment_score"] is None


def test_items_as_structs_give_the_same_table(frame: pl.DataFrame) -> None:
    structs = PAGE_TEXT.with_columns(
        pl.col("items").str.json_decode(
            pl.List(
                pl.Struct(
                    {
                        "text": pl.String,
                        "kind": pl.String,
                        "bbox": pl.List(pl.Int64),
                        "speaker": pl.String,
                        "panel_number": pl.Int64,
                    }
                )
            ),
        )
    )
    again = coco_to_dataspec(PAGES, PANELS, structs, "amazon", "star-runners")
    assert again.equals(frame)


def test_empty_inputs_keep_the_schema() -> None:
    empty = coco_to_dataspec(PAGES.clear(), PANELS.clear(), PAGE_TEXT.clear(), "amazon", "x")
    assert empty.height == 0 and empty.schema == DATASPEC_SCHEMA


def test_parquet_round_trip_is_deterministic(frame: pl.DataFrame, tmp_path: Path) -> None:
    frame.write_parquet(tmp_path / "a.parquet")
    again = coco_to_dataspec(PAGES, PANELS, PAGE_TEXT, "amazon", "star-runners")
    again.write_parquet(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "a.parquet").equals(frame)


def test_v03_export_writes_one_json_per_page(frame: pl.DataFrame, tmp_path: Path) -> None:
    paths = export_dataspec_json(frame, tmp_path / "json")
    assert [p.name for p in paths] == ["b-0000.json", "b-0001.json", "b-0002.json"]
    doc = json.loads(paths[0].read_text(encoding="utf-8"))
    assert doc == to_dataspec_v03(frame.row(0, named=True))
    assert doc["version"] == "0.3"
    assert doc["page_image_path"] == "pages/b/0000.jpg"
    assert doc["panels"][1]["panel_coords"] == [0, 500, 1000, 500]
    assert doc["panels"][1]["text"]["sfx"] == ["BOOM"]
    assert doc["reading_order"] == [0, 1]
    assert doc["alignment"]["is_aligned"] is True
    assert not list((tmp_path / "json").glob("*.tmp"))
