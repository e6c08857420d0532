"""The benchmark's metric functions on tiny cases where the answer is known by hand."""

from __future__ import annotations

import pytest

from comix_resources.benchmarks.metrics import (
    binary_pr,
    order_rate,
    panel_prf,
    score_page_panels,
)

# A 2x2 grid in Western reading order.
GRID = [[0, 0, 100, 100], [110, 0, 100, 100], [0, 110, 100, 100], [110, 110, 100, 100]]


def test_perfect_predictions_score_one() -> None:
    score = score_page_panels(GRID, GRID)
    assert (score.tp, score.missed, score.spurious) == (4, [], [])
    assert score.order_exact and score.min_iou == 1.0
    metrics = panel_prf([score])
    assert metrics["precision"] == metrics["recall"] == metrics["f1"] == 1.0
    assert order_rate([score])["rate"] == 1.0


def test_a_missed_panel_lowers_recall_and_breaks_the_order() -> None:
    score = score_page_panels(GRID[:3], GRID)
    assert score.missed == [3] and score.min_iou == 0.0
    metrics = panel_prf([score])
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["f1"] == pytest.approx(2 * 0.75 / 1.75)
    assert not score.order_exact  # every panel must be found for the order to be right


def test_a_spurious_panel_lowers_precision() -> None:
    score = score_page_panels([*GRID, [300, 300, 50, 50]], GRID)
    assert score.spurious == [4]
    assert panel_prf([score])["precision"] == pytest.approx(4 / 5)


def test_swapped_order_is_wrong_though_every_panel_is_found() -> None:
    swapped = [GRID[0], GRID[2], GRID[1], GRID[3]]  # column first
    score = score_page_panels(swapped, GRID)
    assert score.tp == 4 and panel_prf([score])["f1"] == 1.0
    assert not score.order_exact
    assert order_rate([score]) == {"rate": 0.0, "exact": 0, "pages": 1}


def test_a_box_below_the_iou_threshold_is_not_a_match() -> None:
    shifted = [[60, 0, 100, 100]]  # IoU with [0, 0, 100, 100] is 40/160 = 0.25
    assert score_page_panels(shifted, GRID[:1]).tp == 0
    assert score_page_panels(shifted, GRID[:1], min_iou=0.2).tp == 1


def test_micro_average_weighs_panels_not_pages() -> None:
    pages = [score_page_panels(GRID, GRID), score_page_panels([], GRID[:1])]
    assert panel_prf(pages)["recall"] == pytest.approx(4 / 5)


def test_order_rate_leaves_out_single_panel_pages() -> None:
    single = score_page_panels([[5, 5, 50, 50]], [[0, 0, 10, 10]])  # missed, yet not counted
    assert order_rate([single, score_page_panels(GRID, GRID)]) == {
        "rate": 1.0,
        "exact": 1,
        "pages": 1,
    }


def test_binary_precision_and_recall() -> None:
    pr = binary_pr([True, True, False, False], [True, False, True, False])
    assert (pr["tp"], pr["fp"], pr["fn"]) == (1, 1, 1)
    assert pr["precision"] == 0.5 and pr["recall"] == 0.5
    assert binary_pr([False], [False])["precision"] == 0.0  # nothing flagged: no precision
    with pytest.raises(ValueError):
        binary_pr([True], [])
