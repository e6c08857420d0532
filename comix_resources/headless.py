"""``comix run``: discover, add partitions and materialize every partition without the UI.

Runs go through the collection jobs of the code location and are recorded in the persistent
``$COMIX_HOME`` instance, so they show in the Dagster UI like sensor-launched runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from comix_resources.settings import SOURCES, ComixSettings

if TYPE_CHECKING:
    from dagster import DagsterInstance, ExecuteInProcessResult, JobDefinition

    from comix_resources.sources import Collection

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class PartitionOutcome:
    source: str
    partition: str
    collection: str
    ok: bool
    assets: int
    checks_passed: int
    checks_failed: int
    seconds: float
    error: str = ""


@dataclass
class RunSummary:
    rows: list[PartitionOutcome] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(row.ok for row in self.rows)

    @property
    def failed(self) -> int:
        return sum(not row.ok for row in self.rows)

    @property
    def checks_passed(self) -> int:
        return sum(row.checks_passed for row in self.rows)

    @property
    def checks_failed(self) -> int:
        return sum(row.checks_failed for row in self.rows)


def resolve_selection(select: str | None, available: Sequence) -> list:
    """The `available` asset keys named by `select`: names (`pages`) or keys (`calibre/pages`)."""
    if not select:
        return list(available)
    wanted = [part.strip() for part in select.split(",") if part.strip()]
    chosen = []
    for key in available:
        path = "/".join(key.path)
        if any(item in (path, key.path[-1]) for item in wanted):
            chosen.append(key)
    return chosen


def run_all(
    sources: Sequence[str] | None = None,
    select: str | None = None,
    console: Console | None = None,
    settings: ComixSettings | None = None,
) -> RunSummary:
    import dagster as dg

    from comix_assets.definitions import build_definitions, build_resources
    from comix_assets.jobs import CORPUS_JOB, collection_job_name
    from comix_assets.partitions import COLLECTION_PARTITIONS
    from comix_resources.instance import ensure_dagster_home

    settings = settings or ComixSettings.from_env()
    console = console or Console(stderr=True)
    ensure_dagster_home(settings)
    unknown = set(sources or ()) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {list(SOURCES)}")
    defs = build_definitions(settings)
    comic_sources = build_resources(settings)["sources"]
    summary = RunSummary()
    with dg.DagsterInstance.get() as instance:
        plan = []
        for source in sources or SOURCES:
            comic_source = comic_sources.source(source)
            if comic_source is None:
                console.print(
                    f"[dim]{source}: {comic_sources.root_variable(source)} not set, skipped"
                )
                continue
            collections = comic_source.collections()
            partitions = COLLECTION_PARTITIONS[source]
            known = set(instance.get_dynamic_partitions(partitions.name))
            new = [c.key for c in collections if c.key not in known]
            if new:
                instance.add_dynamic_partitions(partitions.name, new)
            job = defs.resolve_job_def(collection_job_name(source))
            keys = resolve_selection(select, sorted(job.asset_layer.executable_asset_keys))
            if keys:
                plan += [(source, collection, job, keys) for collection in collections]
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("materializing", total=len(plan))
            for source, collection, job, keys in plan:
                progress.update(task, description=f"{source}/{collection.key}")
                summary.rows.append(_run_partition(instance, source, collection, job, keys))
                progress.advance(task)
            corpus_job = defs.resolve_job_def(CORPUS_JOB)
            corpus_keys = resolve_selection(
                select, sorted(corpus_job.asset_layer.executable_asset_keys)
            )
            if corpus_keys and not sources:
                progress.update(task, description="cross-source assets")
                summary.rows.append(_run_corpus(instance, corpus_job, corpus_keys))
    return summary


def _run_corpus(instance: DagsterInstance, job: JobDefinition, keys: list) -> PartitionOutcome:
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=keys,
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
        tags={"comix/trigger": "comix run"},
    )
    return _outcome(result, "corpus", "-", "cross-source assets", started)


def _run_partition(
    instance: DagsterInstance, source: str, collection: Collection, job: JobDefinition, keys: list
) -> PartitionOutcome:
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        partition_key=collection.key,
        asset_selection=keys,
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
        tags={"comix/collection": collection.name, "comix/trigger": "comix run"},
    )
    return _outcome(result, source, collection.key, collection.name, started)


def _outcome(
    result: ExecuteInProcessResult, source: str, partition: str, name: str, started: float
) -> PartitionOutcome:
    evaluations = result.get_asset_check_evaluations()
    failure = next((event for event in result.all_events if event.is_step_failure), None)
    error = ""
    if failure is not None and failure.step_failure_data is not None:
        # The step error wraps the asset's own exception: report the innermost cause.
        cause = failure.step_failure_data.error
        while cause.cause is not None:
            cause = cause.cause
        error = f"{failure.step_key}: {cause.message.strip().splitlines()[0]}"
    return PartitionOutcome(
        source=source,
        partition=partition,
        collection=name,
        ok=result.success,
        assets=len(result.get_asset_materialization_events()),
        checks_passed=sum(e.passed for e in evaluations),
        checks_failed=sum(not e.passed for e in evaluations),
        seconds=time.perf_counter() - started,
        error=error,
    )
