"""Conventions every asset shares: owners, the books content digest, resolving a partition."""

from __future__ import annotations

import dagster as dg

from comix_resources.resources import ComicSourcesResource
from comix_resources.sources import Collection

OWNERS = ["team:comix"]
# Metadata key on `<source>/books`: the collection content digest it was built from.
CONTENT_DIGEST = "content_digest"


def resolve_collection(
    context: dg.AssetExecutionContext, sources: ComicSourcesResource, source: str
) -> Collection:
    """The collection behind this run's partition key, read fresh from the source: for a
    shard of a large collection, the collection with that shard's books only."""
    if sources.source(source) is None:
        raise dg.Failure(
            f"source {source!r} is not configured: set {sources.root_variable(source)}",
        )
    try:
        return sources.partition(source, context.partition_key)
    except KeyError as error:
        raise dg.Failure(
            f"collection {context.partition_key!r} no longer exists in source {source!r}",
            metadata={"error": str(error)},
        ) from error


def shard_metadata(partition_key: str) -> dict[str, str]:
    """For a shard, which collection it belongs to and which book ids it holds."""
    from comix_resources.shards import split_key

    collection, prefixes = split_key(partition_key)
    if prefixes is None:
        return {}
    return {"collection_key": collection, "shard": f"book ids {prefixes.label} (first 4 hex)"}
