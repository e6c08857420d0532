"""Checks are asset checks of their own: they run after their asset, and again alone against
the table in the lake, which is what lets a user re-check after fixing or replacing data."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from comix_assets.checks import SOURCE_CHECKS
from comix_assets.definitions import build_definitions
from comix_resources.lake import Lake
from comix_resources.settings import ComixSettings
from comix_resources.tables import DATASPEC

KEY = "golden-age"


@pytest.fixture
def materialized(two_book_env):
    """The two-book collection through its collection job; (defs, instance, lake, result)."""
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("amazon_collections", [KEY])
        result = defs.resolve_job_def("amazon_collection_job").execute_in_process(
            instance=instance, partition_key=KEY
        )
        yield defs, instance, Lake(settings.lake_root), result


def _run_checks_alone(defs, instance, names: list[str]) -> dict[str, dg.AssetCheckEvaluation]:
    """What "Execute" on a check in the UI launches: the asset job subset to the checks alone,
    with the partition as the run's tag."""
    keys = {dg.AssetCheckKey(dg.AssetKey(["amazon", _table_of(n)]), n) for n in names}
    job = defs.resolve_job_def("amazon_collection_job").get_subset(asset_check_selection=keys)
    result = job.execute_in_process(
        instance=instance, tags={"dagster/partition": KEY}, raise_on_error=False
    )
    assert not result.get_asset_materialization_events(), "a check run materializes nothing"
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _table_of(name: str) -> str:
    return next(c.table.name for c in SOURCE_CHECKS if c.name == name)


@pytest.mark.slow
def test_every_declared_check_runs_after_its_asset(materialized) -> None:
    _, _, _, result = materialized
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    # page_types has a job of its own (it reads the corpus-wide page-stream model).
    assert set(evaluations) == {c.name for c in SOURCE_CHECKS if c.table.name != "page_types"}
    for name in ("books_schema", "pages_schema", "panels_schema", "dataspec_schema"):
        assert evaluations[name].passed, evaluations[name].metadata["report"].value


@pytest.mark.slow
def test_a_check_reruns_alone_against_the_table_in_the_lake(materialized) -> None:
    defs, instance, lake, _ = materialized
    first = _run_checks_alone(defs, instance, ["dataspec_schema"])
    assert first["dataspec_schema"].passed

    # Someone replaces the table with one that repeats a page: the check, run alone, sees it.
    table = DATASPEC.read(lake, "amazon", KEY)
    DATASPEC.write(lake, pl.concat([table, table.head(1)]), "amazon", KEY)
    again = _run_checks_alone(defs, instance, ["dataspec_schema"])["dataspec_schema"]
    assert not again.passed
    assert table["page_id"][0] in again.metadata["failing_items"].value
    assert "expect_column_values_to_be_unique(page_id)" in again.metadata["report"].value


@pytest.mark.slow
def test_the_collection_job_needs_no_corpus_model(materialized) -> None:
    """One-way graph: DataSpec is built without page types, so a collection run never waits
    for (or reads a stale) page-stream model; page types are their own job."""
    defs, _, lake, result = materialized
    built = {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert built == {
        f"amazon/{name}"
        for name in ("books", "pages", "panels", "page_text", "dataspec", "page_quality")
    }
    assert "page_type" not in DATASPEC.read(lake, "amazon", KEY).columns
    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey(["amazon", "dataspec"])).parent_keys
    assert dg.AssetKey(["amazon", "page_types"]) not in upstream
    assert (
        dg.AssetKey(["amazon", "files"]) in graph.get(dg.AssetKey(["amazon", "books"])).parent_keys
    )
