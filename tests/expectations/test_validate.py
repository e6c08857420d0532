"""validate_frame, the outcome objects, their markdown, rate_outcome and the cost of a run."""

from __future__ import annotations

import polars as pl
import pytest

from comix_resources.detection import panels_schema
from comix_resources.expectations import (
    ExpectationOutcome,
    SuiteOutcome,
    panels_schema_suite,
    rate_outcome,
    validate,
    validate_frame,
)


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"page_id": ["a", "b", "c", None], "n": [1, -1, -2, 3], "tags": [["x"], [], None, ["y"]]}
    )


def test_results_follow_the_suite_order_and_name_offending_rows() -> None:
    import great_expectations.expectations as gxe

    expectations = [
        gxe.ExpectColumnValuesToBeBetween(column="n", min_value=0, description="n >= 0"),
        gxe.ExpectColumnValuesToNotBeNull(column="page_id"),
        gxe.ExpectColumnMeanToBeBetween(column="n", max_value=10),
    ]
    outcome = validate_frame(_frame(), "demo", expectations)
    assert [r.name for r in outcome.results] == [
        "expect_column_values_to_be_between(n)",
        "expect_column_values_to_not_be_null(page_id)",
        "expect_column_mean_to_be_between(n)",
    ]
    between, not_null, mean = outcome.results
    assert (between.success, between.unexpected_count, between.examples) == (False, 2, ("b", "c"))
    assert between.unexpected_values == (-1, -2)
    assert between.unexpected_percent == pytest.approx(50.0)
    assert between.description == "n >= 0"
    assert not_null.examples == (None,)
    assert mean.success
    assert mean.observed_value == pytest.approx(0.25)
    assert type(mean.observed_value) is float  # not numpy: Dagster metadata must serialise it
    assert outcome.evaluated == 4
    assert outcome.failing_page_ids() == ["b", "c"]
    assert outcome.failing_page_ids(limit=1) == ["b"]
    # The caller's objects are copied, so the same list validates again unchanged.
    assert expectations[0].meta is None
    assert validate_frame(_frame(), "demo", expectations).results == outcome.results


def test_an_expectation_that_cannot_run_fails_with_its_error() -> None:
    import great_expectations.expectations as gxe

    outcome = validate_frame(
        _frame(), "demo", [gxe.ExpectColumnValuesToNotBeNull(column="missing")]
    )
    (result,) = outcome.results
    assert not outcome.success
    assert result.error
    assert "missing" in outcome.to_markdown()


def test_a_nested_column_is_left_out_of_the_pandas_frame() -> None:
    import great_expectations.expectations as gxe

    # "tags" (a list) never reaches GX: an expectation on it cannot run.
    outcome = validate_frame(_frame(), "demo", [gxe.ExpectColumnToExist(column="tags")])
    assert not outcome.success


def test_rate_outcome_around_the_threshold() -> None:
    assert rate_outcome("ok_rate", 9, 10, 0.9).success
    assert not rate_outcome("ok_rate", 8, 10, 0.9).success
    assert rate_outcome("error_rate", 1, 10, 0.1, higher_is_better=False).success
    assert not rate_outcome("error_rate", 2, 10, 0.1, higher_is_better=False).success
    empty = rate_outcome("ok_rate", 0, 0, 0.9)
    assert (empty.success, empty.observed_value) == (False, None)


def test_extended_adds_rates_to_a_suite_outcome() -> None:
    base = SuiteOutcome("s", True, 10, (ExpectationOutcome("e", True),))
    assert base.extended([rate_outcome("r", 9, 10, 0.5)]).success
    extended = base.extended([rate_outcome("r", 1, 10, 0.5)])
    assert not extended.success
    assert [r.name for r in extended.results] == ["e", "r"]


def test_markdown_lists_failures_first_and_escapes_pipes() -> None:
    outcome = SuiteOutcome(
        "panels_schema",
        False,
        3,
        (
            ExpectationOutcome("fine", True, description="all good", unexpected_count=0),
            ExpectationOutcome(
                "broken",
                False,
                description="a | b",
                unexpected_count=4,
                unexpected_percent=40.0,
                unexpected_values=(7, 8, 9, 10),
                examples=("p1", None, "p3", "p4"),
            ),
            rate_outcome("rate", 1, 4, 0.5),
        ),
    )
    lines = outcome.to_markdown().splitlines()
    assert lines[0] == "**panels_schema**: FAILED, 1/3 expectations met over 3 rows"
    assert lines[2] == "| ok | expectation | check | unexpected | observed | examples |"
    assert lines[4] == "| ❌ | `broken` | a \\| b | 4 (40 %) | 7, 8, 9, +1 | p1, null, p3, +1 |"
    assert lines[5] == "| ❌ | `rate` | 1/4 >= 0.5 |  | 0.25 |  |"
    assert lines[6] == "| ✅ | `fine` | all good | 0 |  |  |"


def test_a_thousand_row_table_validates_in_well_under_a_second() -> None:
    pages = pl.DataFrame(
        {"page_id": [f"book-{i:04d}" for i in range(250)], "width": 1000, "height": 1500}
    )
    panels = pl.DataFrame(
        {
            "page_id": [f"book-{i // 4:04d}" for i in range(1000)],
            "category": "panel",
            "category_id": 1,
            "bbox": [[0, 250 * (i % 4), 1000, 250] for i in range(1000)],
            "score": 0.9,
            "order": [i % 4 for i in range(1000)],
            "detector": "contour",
            "detector_version": "1",
        },
        schema=panels_schema(),
    )
    prepared = panels_schema_suite(panels, pages)
    outcome = prepared.validate()
    first_batch_definition = validate._BATCH_DEFINITION
    assert outcome.success, outcome.to_markdown()
    assert outcome.evaluated == 1000
    # The GX context costs seconds to build: every validation must reuse the first one's.
    assert prepared.validate().success
    assert validate._BATCH_DEFINITION is first_batch_definition is not None
