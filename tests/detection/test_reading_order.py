"""Reading order by recursive guillotine cuts."""

from __future__ import annotations

from comix_resources.detection import reading_order


def test_grid_reads_rows_left_to_right() -> None:
    boxes = [(x, y, 90, 90) for y in (0, 100, 200) for x in (200, 0, 100)]
    order = reading_order(boxes)
    assert [boxes[i] for i in order] == [
        (x, y, 90, 90) for y in (0, 100, 200) for x in (0, 100, 200)
    ]


def test_rtl_reads_rows_right_to_left() -> None:
    boxes = [(0, 0, 90, 90), (100, 0, 90, 90), (0, 100, 190, 90)]
    assert reading_order(boxes, rtl=True) == [1, 0, 2]


def test_tall_panel_is_read_before_the_stacked_ones_beside_it() -> None:
    stacked = [(110, 0, 100, 60), (110, 70, 100, 60), (110, 140, 100, 60)]
    tall = (0, 0, 100, 200)
    assert reading_order([*stacked, tall]) == [3, 0, 1, 2]
    # Manga: the stacked column is on the right, so it comes first.
    assert reading_order([*stacked, tall], rtl=True) == [0, 1, 2, 3]


def test_nested_cuts() -> None:
    # Wide top panel; below it a left column of two panels beside a right part
    # that is itself a row of two over a wide panel.
    boxes = [
        (0, 0, 300, 50),  # 0: top
        (0, 60, 100, 100),  # 1: left column, upper (taller: no row cut crosses the page)
        (0, 170, 100, 40),  # 2: left column, lower
        (110, 60, 90, 70),  # 3: right part, row 1 left
        (210, 60, 90, 70),  # 4: right part, row 1 right
        (110, 140, 190, 70),  # 5: right part, wide
    ]
    assert reading_order(boxes) == [0, 1, 2, 3, 4, 5]
    assert reading_order(boxes, rtl=True) == [0, 4, 3, 5, 1, 2]


def test_small_overlaps_do_not_block_a_cut() -> None:
    # Row 2 starts 5 px above row 1's bottom (a sloppy detection), under 10 %.
    boxes = [(100, 95, 90, 100), (0, 0, 90, 100), (100, 0, 90, 100), (0, 95, 90, 100)]
    assert reading_order(boxes) == [1, 2, 3, 0]


def test_falls_back_to_bands_without_any_cut() -> None:
    # A pinwheel: every straight line crosses a box, so no guillotine cut exists.
    boxes = [
        (0, 0, 200, 90),
        (210, 0, 90, 200),
        (100, 210, 200, 90),
        (0, 100, 90, 200),
        (100, 100, 100, 100),
    ]
    order = reading_order(boxes)
    assert order[0] == 0
    assert sorted(order) == [0, 1, 2, 3, 4]


def test_empty_and_single() -> None:
    assert reading_order([]) == []
    assert reading_order([(5, 5, 10, 10)]) == [0]
