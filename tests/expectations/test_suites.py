"""Each suite passes on valid tables, and each kind of broken row fails the expectation meant
for it, naming the offending page."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest

from comix_resources.detection import panels_schema
from comix_resources.expectations import (
    SuiteOutcome,
    dataspec_rates_suite,
    dataspec_schema_suite,
    page_quality_suite,
    panels_schema_suite,
)
from tests.expectations.conftest import (
    HEIGHT,
    PAGE_IDS,
    WIDTH,
    dataspec_frame,
    page_quality_frame,
    pages_frame,
    panels_frame,
)

BAD = PAGE_IDS[1]


def failing(outcome: SuiteOutcome) -> dict[str, tuple[str | None, ...]]:
    """``expectation name -> offending ids`` for the failing expectations."""
    return {result.name: result.examples for result in outcome.failures}


def set_cell(frame: pl.DataFrame, row: int, **values: object) -> pl.DataFrame:
    """``frame`` with the given columns of one row replaced."""
    return pl.concat(
        [frame[:row], frame[row : row + 1].with_columns(**values), frame[row + 1 :]],
        how="vertical_relaxed",
    )


# The first panel row of page BAD (rows are 6 per page: 3 panels, then 3 others).
PANEL = 6
OTHER = 9


def test_valid_tables_pass() -> None:
    for prepared in (
        panels_schema_suite(panels_frame(), pages_frame()),
        dataspec_schema_suite(dataspec_frame()),
        dataspec_rates_suite(dataspec_frame(), 0.3, 0.6, 0.3),
        page_quality_suite(page_quality_frame(), max_non_comic_fraction=0.34),
    ):
        outcome = prepared.validate()
        assert outcome.success, outcome.to_markdown()
        assert outcome.failing_page_ids() == []


def test_empty_panels_table_passes() -> None:
    empty = pl.DataFrame(schema=panels_schema())
    outcome = panels_schema_suite(empty, pages_frame()).validate()
    assert outcome.success, outcome.to_markdown()
    assert outcome.evaluated == 0


def _box(x: int, y: int, w: int, h: int) -> pl.Expr:
    return pl.lit([x, y, w, h], dtype=pl.List(pl.Int64))


PANEL_BREAKAGES: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], set[str], str | None]] = {
    "null id": (
        lambda f: set_cell(f, OTHER, page_id=pl.lit(None, pl.String)),
        {
            "expect_column_values_to_not_be_null(page_id)",
            "expect_column_values_to_not_be_null(page_width)",
        },
        None,
    ),
    "page not in pages table": (
        lambda f: set_cell(f, OTHER, page_id=pl.lit("book-9999")),
        {"expect_column_values_to_not_be_null(page_width)"},
        "book-9999",
    ),
    "bad category": (
        lambda f: set_cell(f, OTHER, category=pl.lit("balloon")),
        {"expect_column_values_to_be_in_set(category)"},
        BAD,
    ),
    "three-value bbox": (
        lambda f: set_cell(f, OTHER, bbox=pl.lit([1, 2, 3], dtype=pl.List(pl.Int64))),
        {"expect_column_values_to_be_in_set(bbox_len)"},
        BAD,
    ),
    "zero width": (
        lambda f: set_cell(f, OTHER, bbox=_box(10, 10, 0, 40)),
        {"expect_column_values_to_be_between(bbox_w)"},
        BAD,
    ),
    "zero height": (
        lambda f: set_cell(f, OTHER, bbox=_box(10, 10, 40, 0)),
        {"expect_column_values_to_be_between(bbox_h)"},
        BAD,
    ),
    "left of the page": (
        lambda f: set_cell(f, OTHER, bbox=_box(-5, 10, 40, 40)),
        {"expect_column_values_to_be_between(bbox_x)"},
        BAD,
    ),
    "above the page": (
        lambda f: set_cell(f, OTHER, bbox=_box(10, -2, 40, 40)),
        {"expect_column_values_to_be_between(bbox_y)"},
        BAD,
    ),
    "past the right edge": (
        lambda f: set_cell(f, OTHER, bbox=_box(WIDTH - 30, 10, 40, 40)),
        {"expect_column_values_to_be_between(x_overflow)"},
        BAD,
    ),
    "past the bottom edge": (
        lambda f: set_cell(f, PANEL + 2, bbox=_box(0, 700, WIDTH, 802)),
        {"expect_column_values_to_be_between(y_overflow)"},
        BAD,
    ),
    "score above 1": (
        lambda f: set_cell(f, OTHER, score=pl.lit(1.5)),
        {"expect_column_values_to_be_between(score)"},
        BAD,
    ),
    "gap in panel orders": (
        lambda f: set_cell(f, PANEL + 2, order=pl.lit(5)),
        {"expect_column_values_to_be_in_set(panel_orders_contiguous)"},
        BAD,
    ),
    "duplicated panel order": (
        lambda f: set_cell(f, PANEL + 2, order=pl.lit(1)),
        {
            "expect_column_values_to_be_in_set(panel_orders_contiguous)",
            "expect_compound_columns_to_be_unique(page_id, category, order)",
        },
        BAD,
    ),
    "ordered non-panel": (
        lambda f: set_cell(f, OTHER, order=pl.lit(0)),
        {"expect_column_values_to_be_in_set(order)"},
        BAD,
    ),
}


@pytest.mark.parametrize("case", list(PANEL_BREAKAGES))
def test_broken_panel_row_fails_its_expectation(case: str) -> None:
    breakage, expected, page_id = PANEL_BREAKAGES[case]
    outcome = panels_schema_suite(breakage(panels_frame()), pages_frame()).validate()
    assert not outcome.success
    found = failing(outcome)
    assert set(found) == expected
    for name in expected:
        assert page_id in found[name]
    assert outcome.failing_page_ids() == ([] if page_id is None else [page_id])


def test_one_pixel_past_the_edge_is_tolerated() -> None:
    panels = set_cell(panels_frame(), PANEL + 2, bbox=_box(-1, 700, WIDTH + 2, HEIGHT - 699))
    assert panels_schema_suite(panels, pages_frame()).validate().success
    assert not panels_schema_suite(panels, pages_frame(), tolerance_px=0).validate().success


def test_duplicated_page_row_does_not_duplicate_detections() -> None:
    pages = pl.concat([pages_frame(), pages_frame()])
    prepared = panels_schema_suite(panels_frame(), pages)
    assert prepared.frame.height == panels_frame().height
    assert prepared.validate().success


DATASPEC_BREAKAGES: dict[
    str, tuple[Callable[[pl.DataFrame], pl.DataFrame], set[str], str | None]
] = {
    "null id": (
        lambda f: set_cell(f, 1, page_id=pl.lit(None, pl.String)),
        {"expect_column_values_to_not_be_null(page_id)"},
        None,
    ),
    "duplicated id": (
        lambda f: set_cell(f, 2, page_id=pl.lit(BAD)),
        {"expect_column_values_to_be_unique(page_id)"},
        BAD,
    ),
    "quality score 7": (
        lambda f: set_cell(f, 1, quality_score=pl.lit(7)),
        {"expect_column_values_to_be_between(quality_score)"},
        BAD,
    ),
    "unknown alignment method": (
        lambda f: set_cell(f, 1, alignment_method=pl.lit("magic")),
        {"expect_column_values_to_be_in_set(alignment_method)"},
        BAD,
    ),
    "alignment score above 1": (
        lambda f: set_cell(f, 1, alignment_score=pl.lit(1.5)),
        {"expect_column_values_to_be_between(alignment_score)"},
        BAD,
    ),
    "negative panel count": (
        lambda f: set_cell(f, 1, detector_panel_count=pl.lit(-1)),
        {
            "expect_column_values_to_be_between(detector_panel_count)",
            "expect_column_pair_values_to_be_equal(detector_panel_count, n_panels)",
        },
        BAD,
    ),
    "more texts assigned than found": (
        lambda f: set_cell(f, 1, n_texts_assigned=pl.lit(3)),
        {"expect_column_pair_values_a_to_be_greater_than_b(n_texts, n_texts_assigned)"},
        BAD,
    ),
    "panel outside the page": (
        lambda f: set_cell(
            f, 1, page_size=pl.lit({"width": 400, "height": 1500}, dtype=f.schema["page_size"])
        ),
        {"expect_column_values_to_be_between(panel_overflow_px)"},
        BAD,
    ),
    "no page size": (
        lambda f: set_cell(f, 1, page_size=pl.lit(None, dtype=f.schema["page_size"])),
        {"expect_column_values_to_not_be_null(page_width)"},
        BAD,
    ),
}


@pytest.mark.parametrize("case", list(DATASPEC_BREAKAGES))
def test_broken_dataspec_row_fails_its_expectation(case: str) -> None:
    breakage, expected, page_id = DATASPEC_BREAKAGES[case]
    outcome = dataspec_schema_suite(breakage(dataspec_frame())).validate()
    found = failing(outcome)
    assert set(found) == expected, outcome.to_markdown()
    for name in expected:
        assert page_id in found[name]


def test_dataspec_panel_overflow_is_measured_in_pixels() -> None:
    frame = set_cell(
        dataspec_frame(),
        1,
        page_size=pl.lit(
            {"width": 990, "height": 1500}, pl.Struct({"width": pl.Int64, "height": pl.Int64})
        ),
    )
    outcome = dataspec_schema_suite(frame).validate()
    (result,) = outcome.failures
    assert result.unexpected_values == (10,)


def test_panel_count_agreement_definition() -> None:
    frame = pl.DataFrame(
        {
            "is_perfect_match": [True, False, False, False, None],
            "panel_ratio": [None, 1.1, 1.2, None, 0.95],
            "is_aligned": [True] * 5,
        }
    )
    prepared = dataspec_rates_suite(frame, min_agreement_rate=0.6)
    assert prepared.frame["panel_count_agrees"].to_list() == [1, 1, 0, 0, 1]
    (result,) = prepared.validate().results
    assert result.observed_value == pytest.approx(0.6)
    assert result.success


@pytest.mark.parametrize(
    ("column", "rates", "observed"),
    [
        ("panel_count_agrees", {"min_agreement_rate": 1 / 3}, 1 / 3),
        ("aligned", {"min_aligned_rate": 2 / 3}, 2 / 3),
        ("perfect_match", {"min_perfect_match_rate": 1 / 3}, 1 / 3),
    ],
)
def test_rates_pass_at_the_threshold_and_fail_above_it(
    column: str, rates: dict[str, float], observed: float
) -> None:
    (name,) = rates
    at = dataspec_rates_suite(dataspec_frame(), **rates).validate()
    above = dataspec_rates_suite(dataspec_frame(), **{name: rates[name] + 0.01}).validate()
    assert at.success
    assert not above.success
    (result,) = above.results
    assert result.name == f"expect_column_mean_to_be_between({column})"
    assert result.observed_value == pytest.approx(observed)


def test_rates_left_out_are_not_checked() -> None:
    prepared = dataspec_rates_suite(dataspec_frame(), min_aligned_rate=0.5)
    assert [result.name for result in prepared.validate().results] == [
        "expect_column_mean_to_be_between(aligned)"
    ]


def test_non_comic_fraction_around_the_threshold() -> None:
    assert page_quality_suite(page_quality_frame(), max_non_comic_fraction=1 / 3).validate().success
    outcome = page_quality_suite(page_quality_frame(), max_non_comic_fraction=0.3).validate()
    (result,) = outcome.failures
    assert result.name == "expect_column_mean_to_be_between(non_comic)"
    assert result.observed_value == pytest.approx(1 / 3)


def test_page_quality_feature_out_of_range_names_the_page() -> None:
    frame = set_cell(
        page_quality_frame(), 1, ink_coverage=pl.lit(1.5), is_comic=pl.lit(None, pl.Boolean)
    )
    found = failing(page_quality_suite(frame).validate())
    assert found == {
        "expect_column_values_to_be_between(ink_coverage)": (BAD,),
        "expect_column_values_to_not_be_null(is_comic)": (BAD,),
    }
