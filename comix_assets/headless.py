"""``comix run``: discover, add partitions and materialize every partition without the UI.

Runs go through the collection jobs of the code location and are recorded in the persistent
instance (``DAGSTER_HOME`` when the shell sets one, as ``comix stack env`` does, else
``$COMIX_HOME/dagster``), so they show in the Dagster UI like sensor-launched runs. They run in
this process against the configured lake (a folder, or ``COMIX_LAKE_URL`` such as an S3 lake)
and caches; a large collection runs as its shards, one after the other. Each step holds a lease
(``comix_resources.leases``): a second ``comix run`` on the same home waits for the step the
first is running and skips it when the first finished it. A source that cannot be listed (a
broken or locked Calibre database) is a failed row; the other sources go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from comix_resources.leases import Leases
from comix_resources.settings import ComixSettings
from comix_resources.sources.registry import SOURCES

if TYPE_CHECKING:
    from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition
    from dagster._utils.error import SerializableErrorInfo

    from comix_resources.shards import PlannedPartition

INTERRUPTED_ERRORS = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
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
    interrupted: bool = False
    note: str = ""  # why an ok row did nothing (another run did the work)


@dataclass
class RunSummary:
    rows: list[PartitionOutcome] = field(default_factory=list)
    interrupted: str = ""  # why the run stopped early (a signal), else empty

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


@dataclass
class Step:
    """One in-process run of the plan: a job, the assets it materializes, maybe a partition."""

    source: str
    partition: str
    name: str
    job: JobDefinition
    keys: list
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def plan_steps(
    defs: Definitions,
    partitions: dict[str, list[PlannedPartition]],
    select: str | None,
    cross_source: bool,
) -> list[Step]:
    """The runs of a full pass, in dependency order, each asset once: collections; the
    page-stream model; each collection's page types; the training set; the Closure Lite
    variants; embeddings per collection; the search assets. Steps whose selection is empty
    are left out."""
    from comix_assets.jobs import (
        CLOSURE_LITE_JOB,
        CORPUS_JOB,
        collection_job_name,
        embeddings_job_name,
        page_types_job_name,
    )
    from comix_resources.closure_lite.config import VARIANTS

    def selected(job: JobDefinition, names: set[str] | None = None) -> list:
        keys = resolve_selection(select, sorted(job.asset_layer.executable_asset_keys))
        return [k for k in keys if names is None or k.path[-1] in names]

    def per_collection(job_name: Callable[[str], str], names: set[str] | None = None) -> list[Step]:
        steps = []
        for source, planned in partitions.items():
            job = defs.resolve_job_def(job_name(source))
            keys = selected(job, names)
            steps += [
                Step(
                    source,
                    p.key,
                    p.collection.name,
                    job,
                    keys,
                    p.key,
                    {"comix/collection": p.collection.name},
                )
                for p in planned
                if keys
            ]
        return steps

    steps = per_collection(collection_job_name)
    corpus = defs.resolve_job_def(CORPUS_JOB)
    if cross_source and (keys := selected(corpus, {"page_stream"})):
        steps.append(Step("corpus", "-", "page-stream model", corpus, keys))
    steps += per_collection(page_types_job_name)
    if cross_source and (keys := selected(corpus, {"training_pages"})):
        steps.append(Step("corpus", "-", "training pages", corpus, keys))
    model_job = defs.resolve_job_def(CLOSURE_LITE_JOB)
    if cross_source and (keys := selected(model_job)):
        steps += [Step("model", v, f"closure-lite-{v}", model_job, keys, v) for v in VARIANTS]
    steps += per_collection(embeddings_job_name)
    if cross_source and (keys := selected(corpus, {"embedding_index", "embedding_map"})):
        steps.append(Step("corpus", "-", "search index and map", corpus, keys))
    return steps


def run_all(
    sources: Sequence[str] | None = None,
    select: str | None = None,
    console: Console | None = None,
    settings: ComixSettings | None = None,
) -> RunSummary:
    import dagster as dg

    from comix_assets.definitions import build_definitions, build_resources
    from comix_assets.partitions import COLLECTION_PARTITIONS
    from comix_resources.instance import ensure_dagster_home
    from comix_resources.sources import SourceUnavailable

    started = time.time()
    settings = settings or ComixSettings.from_env()
    console = console or Console(stderr=True)
    unknown = set(sources or ()) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {list(SOURCES)}")
    leases = Leases(settings.home / "locks")
    with leases.hold("dagster instance"):  # two runs on a new home would both create it
        if not os.environ.get("DAGSTER_HOME"):
            # A shell that set one (`eval "$(comix stack env)"`) records its runs there.
            ensure_dagster_home(settings)
        instance = dg.DagsterInstance.get()
    defs = build_definitions(settings)
    summary = RunSummary()
    # Resolved as a run would see it (its cache URL is an EnvVar until then).
    with (
        dg.build_resources({"sources": build_resources(settings)["sources"]}) as resolved,
        instance,
    ):
        comic_sources = resolved.sources
        partitions: dict[str, list[PlannedPartition]] = {}
        for source in sources or SOURCES:
            comic_source = comic_sources.source(source)
            if comic_source is None:
                console.print(
                    f"[dim]{source}: {comic_sources.root_variable(source)} not set, skipped"
                )
                continue
            try:
                partitions[source] = _plan_source(
                    instance, COLLECTION_PARTITIONS[source].name, comic_sources, comic_source
                )
            except SourceUnavailable as error:
                console.print(f"[red]{error}")
                summary.rows.append(
                    PartitionOutcome(source, "-", "discovery", False, 0, 0, 0, 0.0, str(error))
                )
        steps = plan_steps(defs, partitions, select, cross_source=not sources)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("materializing", total=len(steps))
            try:
                for step in steps:
                    progress.update(task, description=f"{step.source}/{step.partition}")
                    summary.rows.append(_leased_step(instance, leases, step, console, started))
                    progress.advance(task)
            except KeyboardInterrupt as interrupt:
                summary.interrupted = str(interrupt) or "interrupted"
    return summary


def step_key(step: Step) -> str:
    """What a lease is taken on: the job, the partition and the assets of one run."""
    keys = ",".join(sorted("/".join(key.path) for key in step.keys))
    return f"{step.job.name}/{step.partition_key or '-'}/{keys}"


def _leased_step(
    instance: DagsterInstance, leases: Leases, step: Step, console: Console, started: float
) -> PartitionOutcome:
    """Run the step holding its lease, unless another ``comix run`` finished it after this one
    started (it waited for it, or came just behind)."""

    def waiting(holder: dict) -> None:
        console.print(
            f"[dim]{step.source}/{step.partition} ({step.name}): held by another comix run"
            f" (pid {holder.get('pid', '?')}); waiting"
        )

    with leases.hold(step_key(step), on_wait=waiting) as lease:
        if lease.done_since(started):
            pid = lease.previous.get("pid", "?")
            return PartitionOutcome(
                step.source,
                step.partition,
                step.name,
                ok=True,
                assets=0,
                checks_passed=0,
                checks_failed=0,
                seconds=0.0,
                note=f"done by another comix run (pid {pid}) since this one started",
            )
        outcome = _run_step(instance, step)
        lease.ok = outcome.ok
    if outcome.interrupted:
        # Dagster turns SIGINT/SIGTERM into a failed step; the user asked the whole run to stop.
        raise KeyboardInterrupt(f"interrupted during {step.source}/{step.partition} ({step.name})")
    return outcome


def _plan_source(
    instance: DagsterInstance, partitions_name: str, comic_sources, comic_source
) -> list[PlannedPartition]:
    """Every collection's partitions (a large one's shards, as the sensor plans them), added
    to the instance; keys a collection no longer has (it became shards) are removed."""
    from comix_resources.shards import collection_key

    known = set(instance.get_dynamic_partitions(partitions_name))
    planned = [
        partition
        for collection in comic_source.collections()
        for partition in comic_sources.plan(collection, known)
    ]
    keys = {p.key for p in planned}
    collections = {collection_key(k) for k in keys}
    if new := sorted(keys - known):
        instance.add_dynamic_partitions(partitions_name, new)
    for stale in sorted(k for k in known - keys if collection_key(k) in collections):
        instance.delete_dynamic_partition(partitions_name, stale)
    return planned


def _run_step(instance: DagsterInstance, step: Step) -> PartitionOutcome:
    started = time.perf_counter()
    result = step.job.execute_in_process(
        instance=instance,
        partition_key=step.partition_key,
        asset_selection=step.keys,
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
        tags={**step.tags, "comix/trigger": "comix run"},
    )
    return _outcome(result, step.source, step.partition, step.name, started)


def _error_chain(error: SerializableErrorInfo) -> list[SerializableErrorInfo]:
    """A serialized error and the causes it wraps, outermost first."""
    chain = [error]
    while chain[-1].cause is not None:
        chain.append(chain[-1].cause)
    return chain


def _is_interrupt(chain: list[SerializableErrorInfo]) -> bool:
    """Whether a signal (Ctrl-C, SIGTERM) raised the error or one of its causes."""
    return any(cause.cls_name in INTERRUPTED_ERRORS for cause in chain)


def _outcome(
    result: ExecuteInProcessResult, source: str, partition: str, name: str, started: float
) -> PartitionOutcome:
    evaluations = result.get_asset_check_evaluations()
    failure = next((event for event in result.all_events if event.is_step_failure), None)
    error = ""
    interrupted = False
    if failure is not None and failure.step_failure_data is not None:
        # The step error wraps the asset's own exception: report the innermost cause.
        chain = _error_chain(failure.step_failure_data.error)
        interrupted = _is_interrupt(chain)
        message = chain[-1].message.strip().splitlines()
        error = f"{failure.step_key}: {message[0] if message else chain[-1].cls_name}"
    # A signal during the run's resource set-up fails the run before any step starts.
    for event in result.all_events:
        run_error = getattr(event.event_specific_data, "error", None)
        if event.is_run_failure and run_error is not None:
            chain = _error_chain(run_error)
            if _is_interrupt(chain):
                interrupted = True
                error = error or f"run: interrupted ({chain[-1].cls_name})"
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
        interrupted=interrupted,
    )
