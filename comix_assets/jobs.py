"""Jobs: one per source, materializing everything partitioned by that source's collections."""

from __future__ import annotations

import dagster as dg

from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.settings import SOURCES


def collection_job_name(source: str) -> str:
    return f"{source}_collection_job"


def build_collection_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=collection_job_name(source),
        selection=dg.AssetSelection.groups(source),
        partitions_def=COLLECTION_PARTITIONS[source],
        description=f"Every {source} asset for one collection, in dependency order.",
    )


CORPUS_JOB = "corpus_job"


def build_corpus_job() -> dg.UnresolvedAssetJobDefinition:
    """Everything that spans sources (training set, and later models, indexes, maps)."""
    return dg.define_asset_job(
        name=CORPUS_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups(*SOURCES),
        description="Cross-source assets, after the collections they read are materialized.",
    )
