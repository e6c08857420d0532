"""Text-to-panel assignment, VLM panel matching, count fallback and the quality score."""

from __future__ import annotations

import pytest

from comix_resources.dataspec import (
    AlignmentConfig,
    TextRef,
    VlmPanelRef,
    align_page,
    assign_text_to_panels,
    count_pairing,
    quality_score,
)

# Two panels side by side with a 20 px gutter, then one wide panel below.
PANELS = [(0, 0, 100, 100), (120, 0, 100, 100), (0, 120, 220, 100)]


def test_text_goes_to_the_panel_that_contains_it() -> None:
    result = assign_text_to_panels(PANELS, [(10, 10, 30, 20), (150, 50, 40, 20), (20, 150, 60, 30)])
    assert result.panel == (0, 1, 2)
    assert result.containment == (1.0, 1.0, 1.0)
    assert all(result.resolved)


def test_text_straddling_a_gutter_goes_to_the_majority_panel() -> None:
    # 70 px of 100 in panel 0, 20 px in the gutter, 10 px in panel 1
    result = assign_text_to_panels(PANELS, [(30, 40, 100, 20)])
    assert result.panel == (0,)
    assert result.containment[0] == pytest.approx(0.7)


def test_text_outside_every_panel_is_unassigned_and_counted() -> None:
    result = assign_text_to_panels(PANELS, [(0, 230, 200, 30), None])
    assert result.panel == (None, None)
    assert result.containment == (0.0, None)
    assert result.resolved == (True, False)  # clear-cut page-level text; no box: undecided
    assert (result.n_boxed, result.n_assigned) == (1, 0)


def test_mostly_outside_text_is_ambiguous() -> None:
    # 30 % inside panel 2: neither in it nor clearly outside
    result = assign_text_to_panels(PANELS, [(0, 190, 100, 100)])
    assert result.panel == (None,)
    assert result.resolved == (False,)


def test_nested_detections_prefer_the_tighter_panel() -> None:
    panels = [(0, 0, 400, 400), (10, 10, 100, 100)]
    result = assign_text_to_panels(panels, [(20, 20, 50, 20)])
    assert result.panel == (1,)


def test_zero_area_text_uses_its_centre() -> None:
    result = assign_text_to_panels(PANELS, [(150, 50, 0, 10)])
    assert result.panel == (1,)


def test_vlm_panels_are_matched_by_geometry_not_numbering() -> None:
    # The VLM numbers the wide bottom panel 1 and the top ones 2 and 3: its text must still
    # reach the detector panel that lies where the VLM said.
    vlm = [
        VlmPanelRef(1, (2, 118, 215, 104)),
        VlmPanelRef(2, (0, 2, 98, 96)),
        VlmPanelRef(3, (118, 0, 104, 100)),
    ]
    texts = [TextRef(None, 1, "dialogue"), TextRef(None, 3, "narration")]
    result = align_page(PANELS, texts, vlm)
    assert result.text_panel == (2, 1)
    assert result.vlm_panel == (2, 0, 1)
    assert result.method == "vlm_panels_iou"
    assert result.is_aligned and result.is_perfect_match
    assert result.text_panel_count == 3
    assert 0.9 < result.score <= 1.0


def test_vlm_panel_far_from_every_detection_places_nothing() -> None:
    vlm = [VlmPanelRef(1, (500, 500, 50, 50))]
    result = align_page(PANELS, [TextRef(None, 1)], vlm)
    assert result.text_panel == (None,)
    assert not result.is_aligned
    assert result.score == 0.0


def test_count_fallback_pairs_in_reading_order_and_trusts_equal_counts_only() -> None:
    texts = [TextRef(None, 1), TextRef(None, 3)]
    equal = align_page(PANELS, texts, [VlmPanelRef(k, None) for k in (3, 1, 2)])
    assert equal.method == "count"
    assert equal.text_panel == (0, 2)
    assert equal.is_aligned and equal.is_perfect_match

    fewer = align_page(PANELS[:2], texts, [VlmPanelRef(k, None) for k in (1, 2, 3)])
    assert fewer.method == "count"
    assert fewer.text_panel == (0, None)
    assert not fewer.is_aligned and not fewer.is_perfect_match
    assert fewer.panel_ratio == pytest.approx(1.5)


def test_panel_numbers_without_vlm_panels_assume_panels_up_to_the_highest() -> None:
    result = align_page(PANELS, [TextRef(None, 2), TextRef(None, 3)])
    assert result.text_panel == (1, 2)
    assert result.text_panel_count == 3
    assert result.method == "count" and result.is_aligned


def test_count_pairing() -> None:
    assert count_pairing(3, 2) == {0: 0, 1: 1}
    assert count_pairing(0, 4) == {}


def test_geometry_page_counts_panels_that_received_text() -> None:
    texts = [TextRef((10, 10, 30, 20), kind="dialogue"), TextRef((0, 230, 200, 30), kind="title")]
    result = align_page(PANELS, texts)
    assert result.method == "geometry"
    assert result.text_panel == (0, None)
    assert result.text_panel_count == 1 and not result.is_perfect_match
    assert result.is_aligned
    assert result.score == pytest.approx(1.0)


def test_dialogue_outside_every_panel_means_a_missed_panel() -> None:
    texts = [TextRef((0, 230, 200, 30), kind="dialogue")]
    assert not align_page(PANELS, texts).is_aligned
    assert align_page(PANELS, texts, config=AlignmentConfig(in_panel_kinds=())).is_aligned


def test_mixed_page_is_named_after_its_most_used_method() -> None:
    texts = [TextRef((10, 10, 30, 20)), TextRef((150, 50, 40, 20)), TextRef(None, 3)]
    result = align_page(PANELS, texts)
    assert result.text_method == ("geometry", "geometry", "count")
    assert result.method == "geometry"
    assert result.text_panel == (0, 1, 2)


def test_page_without_text() -> None:
    assert align_page(PANELS, []).is_aligned
    assert align_page(PANELS, []).method == "none"
    blank = align_page([], [])
    assert not blank.is_aligned and blank.score is None and blank.panel_ratio is None


@pytest.mark.parametrize(
    ("ratio", "coverage", "n_panels", "expected"),
    [
        (1.0, 1.0, 6, 4),  # the best page
        (0.9, 0.8, 1, 4),  # every bound is inclusive
        (1.1, 0.79, 15, 3),
        (0.85, 1.0, 6, 3),  # +1 band
        (1.2, 0.0, 6, 2),
        (0.79, 0.9, 6, 2),  # outside both bands
        (1.25, 0.9, 16, 1),  # too many panels
        (None, 0.0, 0, 0),  # no panels at all
    ],
)
def test_quality_score(ratio: float | None, coverage: float, n_panels: int, expected: int) -> None:
    assert quality_score(ratio, coverage, n_panels) == expected
