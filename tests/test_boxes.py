"""Box arithmetic: IoU, containment and one-to-one matching on ``[x, y, w, h]`` boxes."""

from __future__ import annotations

import pytest

from comix_resources.boxes import containment_matrix, iou, iou_matrix, match_boxes


def test_iou_of_half_overlapping_boxes() -> None:
    # 50x100 shared of two 100x100 boxes: 5000 / 15000.
    assert iou((0, 0, 100, 100), (50, 0, 100, 100)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_iou_matrix_shape_and_values() -> None:
    matrix = iou_matrix([(0, 0, 10, 10), (0, 0, 5, 10)], [(0, 0, 10, 10)])
    assert matrix.shape == (2, 1)
    assert matrix[:, 0].tolist() == pytest.approx([1.0, 0.5])


def test_containment_counts_a_zero_area_box_by_its_centre() -> None:
    inside = containment_matrix([(5, 5, 0, 4), (50, 50, 0, 4)], [(0, 0, 10, 10)])
    assert inside[:, 0].tolist() == [1.0, 0.0]


def test_hungarian_matching_beats_greedy() -> None:
    # Greedy would give source 0 target 0 (IoU 0.6) and leave source 1 with nothing.
    source = [(0, 0, 100, 100), (0, 0, 60, 100)]
    target = [(0, 0, 60, 100), (0, 0, 110, 100)]
    matches = match_boxes(source, target, min_iou=0.3)
    assert {k: v[0] for k, v in matches.items()} == {0: 1, 1: 0}


def test_matching_drops_pairs_below_the_threshold() -> None:
    assert match_boxes([(0, 0, 10, 10)], [(8, 8, 10, 10)], min_iou=0.5) == {}
    assert match_boxes([], [(0, 0, 1, 1)]) == {}
