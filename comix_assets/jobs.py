"""Jobs: per-source collection, page-type and embedding jobs, model training, the corpus job.

The stages of a full run, in order, each asset once: each source's collection job (ingest and
annotation: nothing there needs a corpus model), the ``page_stream`` model, each source's
page-types job, ``training_pages``, ``closure_lite`` (a partition per variant), each source's
embeddings job, then the search assets. ``corpus_job`` holds every unpartitioned cross-source
asset.

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

from comix_resources.sources.registry import SOURCES
from comix_resources.stack.placement import celery_config

EXECUTORS = ("multiprocess", "celery", "k8s")

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
        - dg.AssetSelection.assets("closure_lite", "panel_detector"),
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
