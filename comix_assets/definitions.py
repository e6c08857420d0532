"""The code location: every asset, check, job and sensor of CoMix, with resources from the env."""

from __future__ import annotations

import dagster as dg

from comix_assets.annotation import build_annotation_assets
from comix_assets.checks import build_source_checks
from comix_assets.detector_model import panel_detector, panel_detector_gate
from comix_assets.embeddings import build_embeddings_asset
from comix_assets.ingest import build_ingest_assets, build_source_files
from comix_assets.jobs import (
    build_closure_lite_job,
    build_collection_job,
    build_corpus_job,
    build_embeddings_job,
    build_executor,
    build_page_types_job,
)
from comix_assets.models import closure_lite, evaluation_gate
from comix_assets.page_stream import build_page_types_asset, page_stream, page_stream_gate
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_assets.search import embedding_index, embedding_map
from comix_assets.sensors import build_discovery_sensor
from comix_assets.training import training_pages
from comix_resources.resources import (
    ClosureLiteResource,
    ComicSourcesResource,
    DataQualityResource,
    DetectorTrainingResource,
    LakeResource,
    MlflowResource,
    PageExtractionResource,
    PageStreamResource,
    PageTextResource,
    PanelDetectorResource,
    shared_cache_url,
)
from comix_resources.settings import VLM_API_KEY_VARIABLE, ComixSettings
from comix_resources.sources.registry import SOURCES
from comix_resources.stack.placement import text_pool


def build_resources(settings: ComixSettings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(root=settings.lake_url),
        "sources": ComicSourcesResource.from_settings(settings),
        "extraction": PageExtractionResource(),
        "detection": PanelDetectorResource(
            detector=settings.detector,
            checkpoint=settings.detector_checkpoint,
            rtl_collections=list(settings.rtl_collections),
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=settings.mlflow_artifact_root,
        ),
        "detector_training": DetectorTrainingResource(
            pages_dir=str(settings.cache_dir / "detector-pages"),
            eval_pages=settings.detector_eval_pages,
            eval_truth=settings.detector_eval_truth,
        ),
        "text": PageTextResource(
            engines=list(settings.text_engines),
            openai_base_url=settings.vlm_base_url,
            openai_model=settings.vlm_model,
            # Secrets only through EnvVar: Dagster resolves it at run time and never shows it.
            openai_api_key=dg.EnvVar(VLM_API_KEY_VARIABLE) if settings.vlm_api_key_set else "",
            transformers_model=settings.vlm_local_model,
            ocr_alphabet=settings.ocr_alphabet,
            workers=settings.workers,
            cache_dir=str(settings.cache_dir),
            cache_url=shared_cache_url(settings),
        ),
        "data_quality": DataQualityResource(),
        "mlflow": MlflowResource(
            tracking_db=str(settings.mlflow_db),
            tracking_uri=settings.mlflow_tracking,
            artifact_root=settings.mlflow_artifact_root,
            ui_base=settings.mlflow_ui,
        ),
        "model": ClosureLiteResource(
            text_encoder=settings.text_encoder,
            vision_encoder=settings.vision_encoder,
            cache_dir=str(settings.cache_dir),
            cache_url=shared_cache_url(settings),
            embedding_variant=settings.embedding_variant,
            max_epochs=settings.train_max_epochs,
            device=settings.device,
            finetune_vision=settings.finetune_vision,
        ),
        "page_stream_model": PageStreamResource(
            cache_dir=str(settings.cache_dir),
            cache_url=shared_cache_url(settings),
            labels_file=settings.page_type_labels,
            text_encoder=settings.text_encoder,
            vision_encoder=settings.vision_encoder,
        ),
    }


def build_definitions(settings: ComixSettings) -> dg.Definitions:
    assets = [
        asset
        for source in SOURCES
        for asset in [
            *build_ingest_assets(source),
            *build_annotation_assets(source, page_text_pool=text_pool(settings.text_engines)),
            build_page_types_asset(source),
            build_embeddings_asset(source),
        ]
    ]
    assets += [build_source_files(source) for source in SOURCES]
    assets += [training_pages, page_stream, closure_lite, panel_detector]
    assets += [embedding_index, embedding_map]
    checks = [
        *(
            c
            for source in SOURCES
            for c in build_source_checks(source, COLLECTION_PARTITIONS[source])
        ),
        page_stream_gate,
        evaluation_gate,
        panel_detector_gate,
    ]
    jobs = {source: build_collection_job(source) for source in SOURCES}
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            *jobs.values(),
            *(build_page_types_job(source) for source in SOURCES),
            *(build_embeddings_job(source) for source in SOURCES),
            build_closure_lite_job(),
            build_corpus_job(),
        ],
        sensors=[build_discovery_sensor(source, jobs[source]) for source in SOURCES],
        resources=build_resources(settings),
        executor=build_executor(settings.executor),
    )


defs = build_definitions(ComixSettings.from_env())
