"""The code location: every asset, check, job and sensor of CoMix, with resources from the env."""

from __future__ import annotations

import dagster as dg

from comix_assets.ingest import build_ingest_assets
from comix_assets.jobs import build_collection_job
from comix_assets.sensors import build_discovery_sensor
from comix_resources.resources import ComicSourcesResource, LakeResource, PageExtractionResource
from comix_resources.settings import SOURCES, ComixSettings


def build_resources(settings: ComixSettings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(root=str(settings.lake_root)),
        "sources": ComicSourcesResource.from_settings(settings),
        "extraction": PageExtractionResource(),
    }


def build_definitions(settings: ComixSettings) -> dg.Definitions:
    assets = [asset for source in SOURCES for asset in build_ingest_assets(source)]
    jobs = {source: build_collection_job(source) for source in SOURCES}
    return dg.Definitions(
        assets=assets,
        jobs=list(jobs.values()),
        sensors=[build_discovery_sensor(source, jobs[source]) for source in SOURCES],
        resources=build_resources(settings),
    )


defs = build_definitions(ComixSettings.from_env())
