"""Alignment accuracy on the demo library, with its ground truth as detections and OCR."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from comix_resources.dataspec import coco_to_dataspec, evaluate_against_truth, panel_metrics
from tests.dataspec.conftest import truth_tables


@pytest.mark.slow
def test_ground_truth_input_lands_every_text_in_its_panel(
    demo_truth: dict[str, dict[str, Any]],
) -> None:
    tables = truth_tables(demo_truth)
    frame = coco_to_dataspec(tables.pages, tables.panels, tables.page_text, "demo", "all")
    report = evaluate_against_truth(frame, tables.pages, demo_truth)
    assert report["text_panel_accuracy"] >= 0.99
    assert report["text_panel_accuracy_in_panels"] >= 0.99
    assert report["aligned_page_rate"] >= 0.9
    assert report["truth_text_recall"] == 1.0
    assert report["panels"]["f1"] == 1.0 and report["panels"]["order_exact_rate"] == 1.0


@pytest.mark.slow
def test_jittered_boxes_and_missed_panels_still_align(
    demo_truth: dict[str, dict[str, Any]],
) -> None:
    tables = truth_tables(demo_truth, jitter=4, drop_panels=0.1, seed=1)
    frame = coco_to_dataspec(tables.pages, tables.panels, tables.page_text, "demo", "all")
    report = evaluate_against_truth(frame, tables.pages, demo_truth)
    assert report["text_panel_accuracy"] >= 0.9
    # pages with a missed panel leave dialogue outside every panel and are not trusted, so
    # what training sees stays near-perfect
    assert report["text_panel_accuracy_aligned"] >= 0.98
    assert report["panels"]["recall"] < 0.95  # the degradation really happened


def test_panel_metrics_counts_matches_and_exact_order() -> None:
    truth = {"p1": [(0, 0, 100, 100), (100, 0, 100, 100)], "p2": [(0, 0, 50, 50)]}
    pred = {
        "p1": [(100, 0, 100, 100), (0, 0, 100, 100)],  # both found, order swapped
        "p2": [(0, 0, 50, 50), (300, 300, 10, 10)],  # one spurious
        "p3": [(0, 0, 10, 10)],  # a page without truth panels
    }
    metrics = panel_metrics(pred, truth)
    assert metrics["precision"] == pytest.approx(3 / 5)
    assert metrics["recall"] == 1.0
    assert metrics["f1"] == pytest.approx(0.75)
    assert metrics["order_exact_rate"] == 0.0
    assert panel_metrics(truth, truth)["order_exact_rate"] == 1.0


def test_box_less_vlm_text_is_scored_by_its_words() -> None:
    truth = {
        "b": {
            "pages": [
                {
                    "page_index": 0,
                    "is_comic": True,
                    "width": 500,
                    "height": 500,
                    "panels": [
                        {"bbox": [0, 0, 500, 240], "order": 0},
                        {"bbox": [0, 260, 500, 240], "order": 1},
                    ],
                    "texts": [
                        {"text": "Hi Bob!", "kind": "dialogue", "panel": 0, "bbox": [9, 9, 9, 9]},
                        {
                            "text": "Later...",
                            "kind": "narration",
                            "panel": 1,
                            "bbox": [9, 300, 9, 9],
                        },
                    ],
                }
            ]
        }
    }
    # the page was extracted at twice the truth's size: truth boxes are scaled
    pages = pl.DataFrame(
        {
            "page_id": ["b-0000"],
            "book_id": ["b"],
            "page_index": [0],
            "path": ["p.jpg"],
            "width": [1000],
            "height": [1000],
        }
    )
    panels = pl.DataFrame(
        {
            "page_id": ["b-0000"] * 2,
            "category": ["panel"] * 2,
            "bbox": [[0, 0, 1000, 480], [0, 520, 1000, 480]],
            "score": [1.0, 1.0],
            "order": [0, 1],
        }
    )
    items = [
        {"text": "hi bob", "kind": "dialogue", "bbox": None, "speaker": None, "panel_number": 1},
        {"text": "Later", "kind": "narration", "bbox": None, "speaker": None, "panel_number": 1},
    ]
    text = pl.DataFrame(
        {
            "page_id": ["b-0000"],
            "engine": ["openai"],
            "model": ["m"],
            "status": ["ok"],
            "items": [json.dumps(items)],
            "vlm": [None],
        },
        schema_overrides={"vlm": pl.String},
    )
    frame = coco_to_dataspec(pages, panels, text, "demo", "x")
    assert frame["alignment_method"].to_list() == ["count"]
    report = evaluate_against_truth(frame, pages, truth)
    assert report["texts_matched"] == 2 and report["truth_text_recall"] == 1.0
    assert report["text_panel_accuracy"] == 0.5  # "Later" was put in panel 1 by the VLM
    assert report["panels"]["f1"] == 1.0
