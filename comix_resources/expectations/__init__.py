"""Data-quality suites in Great Expectations 1.x over the lake's polars tables (no Dagster).

A suite builder (``books_suite``, ``pages_suite``, ``panels_schema_suite``, ``page_text_suite``,
``dataspec_schema_suite``, ``dataspec_rates_suite``, ``page_quality_suite``,
``page_types_suite``; each starts from ``table_expectations`` of its table's declaration)
returns a ``PreparedSuite``: the table with the scalar columns it derived in polars, and the GX
expectations on them. ``.validate()`` (or ``validate_frame``)
runs them in a per-process ephemeral GX context and returns a ``SuiteOutcome``: one
``ExpectationOutcome`` per expectation with counts, observed value and the ``page_id`` of some
offending rows, ``failing_page_ids()`` and ``to_markdown()`` for Dagster metadata.
``rate_outcome`` covers rates that are not row expectations; ``SuiteOutcome.extended`` adds
them to a suite's outcome.

Cost: great_expectations is imported on the first validation (about 5 s); after that a suite
over 1,000 rows takes milliseconds (tests/expectations/test_validate.py measures it).
"""

from comix_resources.expectations.outcome import ExpectationOutcome, SuiteOutcome, rate_outcome
from comix_resources.expectations.suites import (
    ALIGNMENT_METHODS,
    TOLERANCE_PX,
    UNIT_FEATURES,
    books_suite,
    dataspec_rates_suite,
    dataspec_schema_suite,
    page_quality_suite,
    page_text_suite,
    page_types_suite,
    pages_suite,
    panels_schema_suite,
    table_expectations,
)
from comix_resources.expectations.validate import PreparedSuite, validate_frame

__all__ = [
    "ALIGNMENT_METHODS",
    "TOLERANCE_PX",
    "UNIT_FEATURES",
    "ExpectationOutcome",
    "PreparedSuite",
    "SuiteOutcome",
    "books_suite",
    "dataspec_rates_suite",
    "dataspec_schema_suite",
    "page_quality_suite",
    "page_text_suite",
    "page_types_suite",
    "pages_suite",
    "panels_schema_suite",
    "rate_outcome",
    "table_expectations",
    "validate_frame",
]
