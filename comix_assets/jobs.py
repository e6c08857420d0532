"""Jobs: per-source collection, page-type and embedding jobs, model training, the corpus job.

The stages of a full run, in order, each asset once: each source's collection job (ingest and
annotation: nothing there needs a corpus model), the ``page_stream`` model, each source's
page-types job, ``training_pages``, ``closure_lite`` (a partition per variant), each source's
embeddings job, then the search assets. ``corpus_job`` holds every unpartitioned cross-source
asset.
"""

from __future__ import annotations

import dagster as dg

from comix_resources.sources.registry import SOURCES

CORPUS_JOB = "corpus_job"
CLOSURE_LITE_JOB = "closure_lite_job"


def collection_job_name(source: str) -> str:
    return f"{source}_collection_job"


def embeddings_job_name(source: str) -> str:
    return f"{source}_embeddings_job"


def page_types_job_name(source: str) -> str:
    return f"{source}_page_types_job"


# Per-collection assets that read a corpus-wide model, each with a job of its own.
MODEL_READERS = ("page_types", "embeddings")


def build_collection_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=collection_job_name(source),
        selection=dg.AssetSelection.groups(source)
        - dg.AssetSelection.assets(*([source, name] for name in (*MODEL_READERS, "files"))),
        description=f"Every {source} asset for one collection that needs no trained model, in "
        "dependency order (page types and embeddings have their own jobs: they read the "
        "corpus-wide models).",
    )


def build_page_types_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=page_types_job_name(source),
        selection=dg.AssetSelection.assets([source, "page_types"]),
        description=f"Page types of one {source} collection, from the page-stream champion "
        "(or the rules while there is none).",
    )


def build_embeddings_job(source: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=embeddings_job_name(source),
        selection=dg.AssetSelection.assets([source, "embeddings"]),
        description=f"Embeds one {source} collection with the champion Closure Lite.",
    )


def build_closure_lite_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=CLOSURE_LITE_JOB,
        selection=dg.AssetSelection.assets("closure_lite"),
        description="Trains, evaluates and registers one Closure Lite variant; backfill all "
        "partitions for the four-variant ablation.",
    )


def build_corpus_job() -> dg.UnresolvedAssetJobDefinition:
    """Every unpartitioned cross-source asset (training set, index, map)."""
    return dg.define_asset_job(
        name=CORPUS_JOB,
        selection=dg.AssetSelection.all()
        - dg.AssetSelection.groups(*SOURCES)
        - dg.AssetSelection.assets("closure_lite"),
        description="Cross-source assets, after the collections they read are materialized.",
    )
