"""Discovery sensors: one per source, adding collections as partitions and running what changed.

A collection larger than ``COMIX_SHARD_PAGES`` pages becomes shards (``comix_resources.shards``):
its partitions are the shards' keys, each with a run of its own, and only the shards whose books
changed run again. Planning a large new collection counts and hashes its books; a tick spends at
most ``PLANNING_BUDGET_S`` on it (the sensor's evaluation has a deadline) and the next tick goes
on from the fingerprint cache.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from comix_assets.common import CONTENT_DIGEST
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.discovery import (
    CollectionChange,
    CollectionState,
    content_digest,
    detect_changes,
)
from comix_resources.fingerprints import FingerprintCache
from comix_resources.resources import ComicSourcesResource
from comix_resources.shards import PlannedPartition, PlanningTimeout, collection_key, split_key
from comix_resources.sources import SourceUnavailable

# Dagster gives a sensor evaluation 60 s by default; planning leaves room for the rest.
PLANNING_BUDGET_S = 40.0


def _load_cursor(cursor: str | None) -> dict[str, CollectionState]:
    if not cursor:
        return {}
    return {key: CollectionState(**state) for key, state in json.loads(cursor).items()}


def _dump_cursor(states: dict[str, CollectionState]) -> str:
    return json.dumps(
        {key: {"stat": s.stat, "content": s.content} for key, s in sorted(states.items())},
        separators=(",", ":"),
    )


def _materialized(
    context: dg.SensorEvaluationContext, source: str, partition: str, current: str | None
) -> bool:
    """Whether the partition's latest ``books`` came from this very content (``comix run``,
    or a run before the sensor's cursor was reset), so a run would redo finished work."""
    if current is None:
        return False
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([source, "books"]), asset_partitions=[partition]
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return False
    recorded = records[0].asset_materialization.metadata.get(CONTENT_DIGEST)
    return recorded is not None and bool(recorded.value) and current == recorded.value


def _partition_digest(
    planned: PlannedPartition, change: CollectionChange, fingerprints: FingerprintCache
) -> str | None:
    """The content digest of a planned partition, as its ``books`` will record it."""
    if planned.key == change.key and change.state.content:
        return change.state.content
    return content_digest(planned.collection, fingerprints, cached_only=True)


def _run_request(
    planned: PlannedPartition, change: CollectionChange, digest: str | None
) -> dg.RunRequest:
    tags = {"comix/collection": change.name, "comix/trigger": "discovery"}
    prefixes = split_key(planned.key)[1]
    if prefixes is not None:
        tags["comix/shard"] = prefixes.label
    return dg.RunRequest(
        partition_key=planned.key,
        run_key=f"{planned.key}:{digest or change.state.stat}",
        tags=tags,
    )


def build_discovery_sensor(
    source: str, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    partitions = COLLECTION_PARTITIONS[source]

    @dg.sensor(
        name=f"{source}_discovery",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Finds new {source} collections and new or changed books (size and mtime "
        "first, then content hash), adds the collections as partitions and runs the collection "
        "job for each one that changed. Nothing runs when nothing changed. A source that "
        "cannot be read (a broken or locked Calibre database) skips this tick with the reason "
        "and is read again at the next.",
    )
    def discovery(
        context: dg.SensorEvaluationContext, sources: ComicSourcesResource
    ) -> dg.SensorResult | dg.SkipReason:
        comic_source = sources.source(source)
        if comic_source is None:
            return dg.SkipReason(f"{sources.root_variable(source)} is not set")
        previous = _load_cursor(context.cursor)
        fingerprints = sources.fingerprints()
        known = set(context.instance.get_dynamic_partitions(partitions.name))
        try:
            changes, states = detect_changes(comic_source, previous, fingerprints)
        except SourceUnavailable as error:
            # The cursor stays as it was, so the next tick looks at everything again.
            context.log.warning(str(error))
            return dg.SkipReason(str(error))
        deadline = time.monotonic() + PLANNING_BUDGET_S
        run_requests: list[dg.RunRequest] = []
        planned_keys: set[str] = set()
        replaced: set[str] = set()
        postponed: list[str] = []
        for change in changes:
            try:
                plan = sources.plan(comic_source.collection(change.key), known, deadline)
            except PlanningTimeout as timeout:
                # Not this tick: the next one plans it again, from the cache.
                postponed.append(change.key)
                if change.key in previous:
                    states[change.key] = previous[change.key]
                else:
                    states.pop(change.key, None)
                context.log.info(str(timeout))
                continue
            keys = {planned.key for planned in plan}
            planned_keys |= keys
            replaced |= {k for k in known if collection_key(k) == change.key} - keys
            shards = f" ({len(plan)} shards)" if len(plan) > 1 else ""
            for planned in plan:
                digest = _partition_digest(planned, change, fingerprints)
                if planned.key in known and _materialized(context, source, planned.key, digest):
                    context.log.info(f"{planned.key}: already materialized from this content")
                    continue
                context.log.info(
                    f"{'new' if change.is_new else 'changed'} collection {change.name!r}"
                    f"{shards} -> partition {planned.key} ({planned.pages} pages)"
                )
                run_requests.append(_run_request(planned, change, digest))
        cursor = _dump_cursor(states)
        new_keys = sorted(planned_keys - known)
        requests = []
        if new_keys:
            requests.append(partitions.build_add_request(new_keys))
        if replaced:
            # A collection that became shards, or a shard that was halved: its old key goes
            # (its lake files stay, read by nothing that follows the partitions).
            requests.append(partitions.build_delete_request(sorted(replaced)))
        if not run_requests and not requests:
            context.update_cursor(cursor)
            if postponed:
                return dg.SkipReason(f"still planning {', '.join(postponed)}")
            return dg.SkipReason(f"no new or changed collections in {len(states)}")
        return dg.SensorResult(
            run_requests=run_requests, dynamic_partitions_requests=requests, cursor=cursor
        )

    return discovery
