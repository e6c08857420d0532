"""Run GX 1.x expectations over a polars table and reduce the result to a ``SuiteOutcome``.

One ephemeral GX context per process, made on first use: importing great_expectations takes
seconds, while each later validation costs milliseconds (see the package docstring).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from comix_resources.expectations.outcome import ExpectationOutcome, SuiteOutcome

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.expectations import Expectation

    from comix_resources.tables import LakeTable

# GX names at most this many offending rows per expectation in a SUMMARY result; enough to
# find the culprits without copying a whole failing column into Dagster metadata.
EXAMPLES_PER_EXPECTATION = 20

# Where each expectation stood in the caller's list: GX returns results grouped by column,
# and a report reads best in the order the suite was written.
_POSITION = "comix_position"

# GX does not document its data context as thread-safe; one lock keeps a threaded caller
# from building two contexts or interleaving batches on the shared asset.
_LOCK = threading.Lock()
_BATCH_DEFINITION: BatchDefinition | None = None


@dataclass(frozen=True)
class PreparedSuite:
    """A suite ready to run: the table with its derived columns and the expectations on it;
    with ``table``, the frame is also compared with that declaration (columns and types)."""

    name: str
    frame: pl.DataFrame
    expectations: list[Expectation]
    id_column: str = "page_id"
    table: LakeTable | None = None

    def validate(self) -> SuiteOutcome:
        outcome = validate_frame(self.frame, self.name, self.expectations, self.id_column)
        if self.table is None:
            return outcome
        return outcome.extended([declaration_outcome(self.table, self.frame)])


def declaration_outcome(table: LakeTable, frame: pl.DataFrame) -> ExpectationOutcome:
    """Whether ``frame`` holds every declared column of ``table`` with its declared type."""
    missing = [name for name in table.schema if name not in frame.columns]
    wrong = [
        f"{name}: {frame.schema[name]} (declared {dtype})"
        for name, dtype in table.schema.items()
        if name in frame.columns and frame.schema[name] != dtype
    ]
    differences = [f"missing {name}" for name in missing] + wrong
    return ExpectationOutcome(
        name=f"matches_declaration({table.name})",
        success=not differences,
        description=f"every column of the {table.name} declaration, with its type",
        observed_value="; ".join(differences) or "as declared",
    )


def validate_frame(
    frame: pl.DataFrame,
    suite_name: str,
    expectations: list[Expectation],
    id_column: str = "page_id",
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations``; offending rows are named by ``id_column``.

    The caller's expectation objects are copied, not changed, so one list can serve many
    frames. An expectation that cannot run (a missing column) fails with its error message.
    """
    import great_expectations as gx

    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": EXAMPLES_PER_EXPECTATION,
        "unexpected_index_column_names": [id_column],
    }
    with _LOCK:
        # The context comes first: a suite looks for the current one as it takes expectations.
        batch_definition = _batch_definition()
        suite = gx.ExpectationSuite(name=suite_name)
        for position, expectation in enumerate(expectations):
            meta = {**(expectation.meta or {}), _POSITION: position}
            suite.add_expectation(expectation.copy(update={"meta": meta}))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": _to_pandas(frame)})
        validation = batch.validate(suite, result_format=result_format)
    results = sorted(validation.results, key=lambda r: r.expectation_config.meta[_POSITION])
    outcomes = tuple(_outcome(result, id_column) for result in results)
    return SuiteOutcome(
        suite=suite_name,
        success=all(outcome.success for outcome in outcomes),
        evaluated=frame.height,
        results=outcomes,
    )


def _batch_definition() -> BatchDefinition:
    """The process's one whole-dataframe batch definition (call with ``_LOCK`` held)."""
    global _BATCH_DEFINITION
    if _BATCH_DEFINITION is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            # Offline by default: no usage statistics; and no tqdm bars in Dagster's logs.
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas("comix").add_dataframe_asset("frame")
        _BATCH_DEFINITION = asset.add_batch_definition_whole_dataframe("whole_frame")
    return _BATCH_DEFINITION


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """The scalar columns of ``frame`` as pandas.

    ``DataFrame.to_pandas`` needs pyarrow, which the project does not install; column by column
    through numpy needs nothing more. Nested columns (lists, structs) are left out: GX checks
    scalars, so every suite derives the scalar columns it checks from them first.
    """
    import pandas as pd

    scalar = [name for name, dtype in frame.schema.items() if not dtype.is_nested()]
    return pd.DataFrame({name: frame[name].to_numpy() for name in scalar})


def _outcome(result: ExpectationValidationResult, id_column: str) -> ExpectationOutcome:
    config = result.expectation_config
    details: dict[str, Any] = result.result or {}
    examples = {
        _id(row.get(id_column)): None
        for row in details.get("partial_unexpected_index_list") or []
        if isinstance(row, dict)
    }
    percent = details.get("unexpected_percent")
    return ExpectationOutcome(
        name=_name(config.type, config.kwargs),
        success=bool(result.success),
        description=config.description,
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=None if percent is None else float(percent),
        observed_value=_plain(details.get("observed_value")),
        unexpected_values=_plain(details.get("partial_unexpected_list") or ()),
        examples=tuple(examples),
        error=_error(result.exception_info or {}),
    )


def _error(exception_info: dict[str, Any]) -> str | None:
    """The message of the first exception: GX reports one for the expectation, or one per
    metric that failed to compute (keyed by metric), as when a column is missing."""
    infos = [exception_info, *(v for v in exception_info.values() if isinstance(v, dict))]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "expectation raised an exception")
    return None


def _name(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """``type(columns)``, e.g. ``expect_column_pair_values_to_be_equal(a, b)``."""
    columns = kwargs.get("column_list") or [
        kwargs[key] for key in ("column", "column_A", "column_B") if kwargs.get(key)
    ]
    return f"{expectation_type}({', '.join(columns)})"


def _id(value: Any) -> str | None:
    import pandas as pd

    # pandas shows a missing string as NaN, None or pd.NA: all mean "no id".
    return None if pd.isna(value) else str(value)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so that Dagster metadata can serialise them."""
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    # pandas turns a missing value into NaN; report it as missing.
    return None if isinstance(value, float) and math.isnan(value) else value
