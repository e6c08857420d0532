"""COCO JSON and table rows of detections."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from comix_resources.detection import (
    Detection,
    Panel,
    detections_to_coco,
    detections_to_rows,
    panels_schema,
)

STRIP = Detection(
    width=300,
    height=100,
    panels=(
        Panel(bbox=(0, 0, 140, 100), score=0.9, order=0),
        Panel(bbox=(160, 0, 140, 100), score=0.8, order=1),
        Panel(bbox=(10, 10, 60, 20), score=0.7, order=-1, category="text"),
        Panel(bbox=(170, 40, 30, 30), score=0.6, order=-1, category="face"),
    ),
    detector="fasterrcnn",
    detector_version="0123456789ab",
    whole_page=False,
)
BLANK = Detection(
    width=200,
    height=300,
    panels=(Panel(bbox=(0, 0, 200, 300), score=0.0, order=0),),
    detector="fasterrcnn",
    detector_version="0123456789ab",
    whole_page=True,
)
PAGES = [("book-0001", "book/0001.png", STRIP), ("book-0002", "book/0002.png", BLANK)]


def test_coco_ids_are_numbered_in_order() -> None:
    coco = detections_to_coco(PAGES)
    assert coco == detections_to_coco(PAGES)
    assert [(i["id"], i["page_id"], i["width"], i["height"]) for i in coco["images"]] == [
        (1, "book-0001", 300, 100),
        (2, "book-0002", 200, 300),
    ]
    assert [a["id"] for a in coco["annotations"]] == [1, 2, 3, 4, 5]
    assert [a["image_id"] for a in coco["annotations"]] == [1, 1, 1, 1, 2]
    assert [a["category_id"] for a in coco["annotations"]] == [1, 1, 4, 7, 1]
    assert coco["annotations"][2] == {
        "id": 3,
        "image_id": 1,
        "category_id": 4,
        "bbox": [10, 10, 60, 20],
        "area": 1200,
        "iscrowd": 0,
        "score": 0.7,
        "order": -1,
    }
    assert coco["categories"] == [
        {"id": 1, "name": "panel"},
        {"id": 2, "name": "character"},
        {"id": 4, "name": "text"},
        {"id": 7, "name": "face"},
    ]


def test_pycocotools_loads_and_evaluates_it(tmp_path: Path) -> None:
    coco = detections_to_coco(PAGES)
    path = tmp_path / "panels.coco.json"
    path.write_text(json.dumps(coco))
    ground_truth = COCO(str(path))
    assert len(ground_truth.getAnnIds(imgIds=[1])) == 4
    assert len(ground_truth.getAnnIds(imgIds=[2], catIds=[1])) == 1
    assert ground_truth.loadCats([4])[0]["name"] == "text"
    results = ground_truth.loadRes(coco["annotations"])
    assert len(results.getAnnIds()) == 5
    # The detections judged against themselves: a perfect score proves the format.
    evaluation = COCOeval(ground_truth, results, "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == 1.0


def test_rows_build_a_typed_table() -> None:
    rows = detections_to_rows([(page_id, detection) for page_id, _, detection in PAGES])
    table = pl.DataFrame(rows, schema=panels_schema())
    assert table.height == 5
    assert table.row(0, named=True) == {
        "page_id": "book-0001",
        "category": "panel",
        "category_id": 1,
        "bbox": [0, 0, 140, 100],
        "score": 0.9,
        "order": 0,
        "detector": "fasterrcnn",
        "detector_version": "0123456789ab",
    }
    assert table["category"].to_list() == ["panel", "panel", "text", "face", "panel"]
    assert pl.DataFrame(detections_to_rows([]), schema=panels_schema()).columns == table.columns
