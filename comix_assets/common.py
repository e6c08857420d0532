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
    """The collection behind this run's partition key, read fresh from the source."""
    comic_source = sources.source(source)
    if comic_source is None:
        raise dg.Failure(
            f"source {source!r} is not configured: set {sources.root_variable(source)}",
        )
    try:
        return comic_source.collection(context.partition_key)
    except KeyError as error:
        raise dg.Failure(
            f"collection {context.partition_key!r} no longer exists in source {source!r}",
            metadata={"error": str(error)},
        ) from error
