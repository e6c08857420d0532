"""What a validation found, as plain frozen dataclasses (no Great Expectations import).

Dagster checks put these into metadata, so every value here is a plain Python value: numbers,
strings, ``None``; never numpy scalars or GX objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# Enough rows to find the culprits in the lake, few enough for a metadata table cell.
MARKDOWN_EXAMPLES = 3


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict.

    ``name`` is the expectation type and its column(s), e.g.
    ``expect_column_values_to_be_between(bbox_w)``; ``description`` says what it means for
    the data. ``unexpected_count``/``unexpected_percent`` are ``None`` for aggregate
    expectations (a mean, a rate), whose finding is ``observed_value``. ``unexpected_values``
    are some offending values, ``examples`` the ids of some offending rows (``None`` where the
    id itself is null), ``error`` the message when the expectation could not run (a missing
    column, say), which counts as a failure.
    """

    name: str
    success: bool
    description: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    unexpected_values: tuple[Any, ...] = ()
    examples: tuple[str | None, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite's verdict over ``evaluated`` rows, one ``ExpectationOutcome`` per expectation."""

    suite: str
    success: bool
    evaluated: int
    results: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(result for result in self.results if not result.success)

    def failing_page_ids(self, limit: int = 10) -> list[str]:
        """Distinct ids named by failing expectations, in the order found.

        Null ids cannot be named; the not-null expectation on the id column counts them.
        """
        found: dict[str, None] = {}
        for result in self.failures:
            for example in result.examples:
                if example is not None:
                    found.setdefault(example)
        return list(found)[:limit]

    def extended(self, results: list[ExpectationOutcome]) -> SuiteOutcome:
        """This outcome with ``results`` appended (e.g. ``rate_outcome``s computed elsewhere)."""
        merged = (*self.results, *results)
        return replace(self, success=all(r.success for r in merged), results=merged)

    def to_markdown(self) -> str:
        """A compact table for Dagster metadata (``MetadataValue.md``), failures first."""
        passed = len(self.results) - len(self.failures)
        lines = [
            f"**{self.suite}**: {'passed' if self.success else 'FAILED'}, "
            f"{passed}/{len(self.results)} expectations met over {self.evaluated} rows",
            "",
            "| ok | expectation | check | unexpected | observed | examples |",
            "|---|---|---|---|---|---|",
        ]
        # Stable sort: failures on top, suite order otherwise.
        for result in sorted(self.results, key=lambda r: r.success):
            lines.append(
                "| "
                + " | ".join(
                    _cell(value)
                    for value in (
                        "✅" if result.success else "❌",
                        f"`{result.name}`",
                        result.description or "",
                        _unexpected(result),
                        result.error or _observed(result),
                        _listed(result.examples),
                    )
                )
                + " |"
            )
        return "\n".join(lines)


def rate_outcome(
    name: str,
    numerator: int,
    denominator: int,
    threshold: float,
    higher_is_better: bool = True,
) -> ExpectationOutcome:
    """A rate check that is not a row expectation (e.g. books that failed to convert).

    Passes when ``numerator / denominator`` is at least ``threshold`` (or at most, when lower
    is better). With no rows there is no rate and the check fails, as GX's
    ``ExpectColumnMeanToBeBetween`` does on an empty column, so both kinds of rate agree.
    """
    rate = numerator / denominator if denominator else None
    if rate is None:
        success = False
    else:
        success = rate >= threshold if higher_is_better else rate <= threshold
    return ExpectationOutcome(
        name=name,
        success=success,
        description=f"{numerator}/{denominator} {'>=' if higher_is_better else '<='} {threshold:g}",
        observed_value=rate,
    )


def _cell(text: str) -> str:
    # A pipe or a newline inside a cell would break the markdown table.
    return text.replace("|", "\\|").replace("\n", " ")


def _unexpected(result: ExpectationOutcome) -> str:
    if result.unexpected_count is None:
        return ""
    if result.unexpected_percent is None:
        return str(result.unexpected_count)
    return f"{result.unexpected_count} ({result.unexpected_percent:.3g} %)"


def _observed(result: ExpectationOutcome) -> str:
    value = result.observed_value
    if value is None:
        return _listed(result.unexpected_values)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _listed(values: tuple[Any, ...]) -> str:
    shown = ", ".join("null" if v is None else str(v) for v in values[:MARKDOWN_EXAMPLES])
    more = len(values) - MARKDOWN_EXAMPLES
    return f"{shown}, +{more}" if more > 0 else shown
