"""Discovery sensors: one per source, adding collections as partitions and running what changed."""

from __future__ import annotations

import json

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
from comix_resources.sources import ComicSource, SourceUnavailable


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
    context: dg.SensorEvaluationContext,
    source: str,
    comic_source: ComicSource,
    fingerprints: FingerprintCache,
    change: CollectionChange,
) -> bool:
    """Whether the partition's latest ``books`` came from this very content (``comix run``,
    or a run before the sensor's cursor was reset), so a run would redo finished work."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([source, "books"]), asset_partitions=[change.key]
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return False
    recorded = records[0].asset_materialization.metadata.get(CONTENT_DIGEST)
    if recorded is None or not recorded.value:
        return False
    current = change.state.content or content_digest(
        comic_source.collection(change.key), fingerprints, cached_only=True
    )
    return current == recorded.value


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
            done = [
                c
                for c in changes
                if c.key in known and _materialized(context, source, comic_source, fingerprints, c)
            ]
        except SourceUnavailable as error:
            # The cursor stays as it was, so the next tick looks at everything again.
            context.log.warning(str(error))
            return dg.SkipReason(str(error))
        new_keys = sorted({c.key for c in changes} - known)
        cursor = _dump_cursor(states)
        changes = [c for c in changes if c not in done]
        for change in done:
            context.log.info(f"{change.key}: already materialized from this content, no run")
        if not changes:
            context.update_cursor(cursor)
            return dg.SkipReason(f"no new or changed collections in {len(states)}")
        for change in changes:
            context.log.info(
                f"{'new' if change.is_new else 'changed'} collection {change.name!r} -> "
                f"partition {change.key}"
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    partition_key=change.key,
                    run_key=f"{change.key}:{change.state.content or change.state.stat}",
                    tags={"comix/collection": change.name, "comix/trigger": "discovery"},
                )
                for change in changes
            ],
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)]
            if new_keys
            else [],
            cursor=cursor,
        )

    return discovery
