"""Jobs: per-source collection and embedding jobs, model training, and the cross-source jobs.

The stages of a full run, in order: each source's collection job (ingest and annotation),
``training_pages``, ``closure_lite`` (a partition per variant), each source's embeddings job,
then the search assets. ``corpus_job`` holds every unpartitioned cross-source asset.

Every job runs on the executor that ``COMIX_EXECUTOR`` names: Dagster's multiprocess executor
on one machine; ``celery``, which sends each step to a Celery worker by its queue tag (``gpu``
for the models and embeddings, ``cpu`` for the rest) with the same broker settings as the
workers of ``comix stack``; or ``k8s``, a Kubernetes Job per step, where the same steps ask for
a GPU through their ``dagster-k8s/config`` tag (deploy/). With Celery the run itself starts
through the default run launcher beside the daemon: ``CeleryRunLauncher`` together with the
Celery executor fails.
"""

from __future__ import annotations

import dagster as dg

from comix_assets.models import VARIANT_PARTITIONS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.settings import SOURCES
from comix_resources.stack.placement import celery_config

EXECUTORS = ("multiprocess", "celery", "k8s")

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
        - dg.AssetSelection.assets("closure_lite"),
        description="Cross-source assets, after the collections they read are materialized.",
    )


def build_executor(name: str) -> dg.ExecutorDefinition:
    """The executor of every job: ``multiprocess`` (Dagster's default), ``celery`` or ``k8s``."""
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(), name="comix_celery")
    if name == "multiprocess":
        return dg.multiprocess_executor
    raise ValueError(f"COMIX_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {name!r}")
