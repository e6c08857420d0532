"""Jobs: per-source collection and embedding jobs, model training, and the cross-source jobs.

The stages of a full run, in order: each source's collection job (ingest and annotation),
``training_pages``, ``closure_lite`` (a partition per variant), each source's embeddings job,
then the search assets. ``corpus_job`` holds every unpartitioned cross-source asset.
"""

from __future__ import annotations

import dagster as dg

from comix_assets.models import VARIANT_PARTITIONS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.settings import SOURCES

CORPUS_JOB = "corpus_job"
CLOSURE_LITE_JOB = "closure_lite_job"


def collection_job_name(source: str) -> str:
    return f"{source}_collection_job"


def embeddings_job_name(source: str) -> str:
    return f"{source}_embeddings_job"


def build_collection_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=collection_job_name(source),
        selection=dg.AssetSelection.groups(source)
        - dg.AssetSelection.assets([source, "embeddings"]),
        partitions_def=COLLECTION_PARTITIONS[source],
        description=f"Every {source} asset for one collection that needs no trained model, in "
        "dependency order (embeddings have their own job: they wait for a champion model).",
    )


def build_embeddings_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=embeddings_job_name(source),
        selection=dg.AssetSelection.assets([source, "embeddings"]),
        partitions_def=COLLECTION_PARTITIONS[source],
        description=f"Embeds one {source} collection with the champion Closure Lite.",
    )


def build_closure_lite_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=CLOSURE_LITE_JOB,
        selection=dg.AssetSelection.assets("closure_lite"),
        partitions_def=VARIANT_PARTITIONS,
        description="Trains, evaluates and registers one Closure Lite variant; backfill all "
        "partitions for the four-variant ablation.",
    )


def build_corpus_job() -> dg.UnresolvedAssetJobDefinition:
    """Every unpartitioned cross-source asset (training set, index, map)."""
    return dg.define_asset_job(
        name=CORPUS_JOB,
        selection=dg.AssetSelection.all()
        - dg.AssetSelection.groups(*SOURCES)
        - dg.AssetSelection.assets("closure_lite", "panel_detector"),
        description="Cross-source assets, after the collections they read are materialized.",
    )
