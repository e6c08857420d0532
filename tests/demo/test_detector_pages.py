"""The learned detector's training pages: exact truth, the layouts of real pages, a set apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from comix_resources.demo.detector_pages import (
    CATEGORY_IDS,
    _pinwheel,
    detector_page,
    write_detector_pages,
)
from comix_resources.detection import CATEGORY_IDS as DETECTOR_CATEGORY_IDS


def test_same_seed_same_page() -> None:
    a, b = detector_page(11), detector_page(11)
    assert np.array_equal(a.image, b.image) and a.panels == b.panels and a.texts == b.texts
    assert not np.array_equal(a.image, detector_page(12).image)


def test_truth_boxes_lie_on_the_page() -> None:
    kinds = set()
    for seed in range(30):
        page = detector_page(seed)
        kinds.add(page.kind)
        height, width = page.image.shape[:2]
        for x, y, w, h in page.panels + page.texts:
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= width and y + h <= height
        if page.kind == "prose":
            assert page.panels == []
        if page.kind == "cover":
            assert len(page.panels) == 1
    assert "story" in kinds


def test_pinwheel_has_no_straight_cut() -> None:
    import random

    panels = _pinwheel((0, 0, 1000, 1500), 10, random.Random(3))
    assert len(panels) == 5
    for axis in (0, 1):  # no line across the page misses every panel
        for position in range(1, [1000, 1500][axis]):
            assert any(p[axis] < position < p[axis + 2] for p in panels)


def test_written_set_is_coco_with_comix_ids(tmp_path: Path) -> None:
    coco = json.loads(write_detector_pages(tmp_path, 3, seed=5).read_text())
    assert [image["file_name"] for image in coco["images"]] == [
        "00000.jpg",
        "00001.jpg",
        "00002.jpg",
    ]
    assert all((tmp_path / image["file_name"]).stat().st_size > 0 for image in coco["images"])
    assert {c["name"]: c["id"] for c in coco["categories"]} == DETECTOR_CATEGORY_IDS
    assert CATEGORY_IDS == DETECTOR_CATEGORY_IDS
    panels = [a for a in coco["annotations"] if a["category_id"] == CATEGORY_IDS["panel"]]
    expected = sum(len(detector_page(5 + i).panels) for i in range(3))
    assert len(panels) == expected
