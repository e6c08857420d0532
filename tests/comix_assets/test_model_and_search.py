"""Closure Lite, embeddings, index and map through Dagster, on the whole demo library.

Trains ``base`` only (the demo run's strongest variant: held-out recall@10 0.47 against chance
0.26), so the embeddings also exercise the fallback from the preferred ``context-denoise``.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
import pytest
import xarray as xr

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.embeddings import open_partition
from comix_resources.search.bundle import SearchBundle, load_embedding_map
from comix_resources.settings import ComixSettings
from comix_resources.tracking import Tracker, sqlite_tracking_uri

pytestmark = pytest.mark.slow
SOURCES = ("amazon", "darkhorse", "calibre")
VARIANT = "base"


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_train_register_embed_index_and_map(comix_env, monkeypatch) -> None:
    monkeypatch.setenv("COMIX_TRAIN_MAX_EPOCHS", "60")
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    sources = build_resources(settings)["sources"]
    partitions = {s: [c.key for c in sources.source(s).collections()] for s in SOURCES}
    with dg.DagsterInstance.ephemeral() as instance:
        for source, keys in partitions.items():
            instance.add_dynamic_partitions(f"{source}_collections", keys)
            job = defs.resolve_job_def(f"{source}_collection_job")
            for key in keys:
                assert job.execute_in_process(instance=instance, partition_key=key).success
        corpus = defs.resolve_job_def("corpus_job")
        training = corpus.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("training_pages")]
        )
        assert training.success

        # Embeddings before any model: a clear failure, nothing written.
        early = defs.resolve_job_def("amazon_embeddings_job").execute_in_process(
            instance=instance, partition_key=partitions["amazon"][0], raise_on_error=False
        )
        assert not early.success
        assert not (settings.lake_root / "embeddings.zarr").exists()

        trained = defs.resolve_job_def("closure_lite_job").execute_in_process(
            instance=instance, partition_key=VARIANT
        )
        gate = _checks(trained)["evaluation_gate"]
        assert gate.passed, gate.description
        [materialization] = trained.asset_materializations_for_node("closure_lite")
        meta = materialization.metadata
        assert meta["version"].value == 1 and meta["champion_version"].value == 1
        assert meta["val_books"].value >= 2
        assert "/#/models/closure-lite-base/versions/1" in meta["model_version"].value
        assert meta["val_retrieval_recall_at_10"].value > meta["val_retrieval_chance"].value
        # It knows more than its encoders did before training (the gate's baselines).
        assert meta["val_closure_accuracy"].value >= meta["val_closure_baseline"].value
        assert meta["val_retrieval_recall_at_10"].value >= meta["val_retrieval_baseline"].value
        assert "frozen encoders" in meta["evaluation"].value

        for source, keys in partitions.items():
            job = defs.resolve_job_def(f"{source}_embeddings_job")
            for key in keys:
                embedded = job.execute_in_process(instance=instance, partition_key=key)
                assert embedded.success
                [event] = embedded.asset_materializations_for_node(f"{source}__embeddings")
                assert event.metadata["variant"].value == VARIANT
                assert event.metadata["preferred_variant"].value == "context-denoise"
        search = corpus.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("embedding_index"), dg.AssetKey("embedding_map")],
        )
        assert search.success

    tracker = Tracker(
        sqlite_tracking_uri(settings.mlflow_db), settings.mlflow_artifacts, "closure-lite"
    )
    assert tracker.champion_version(f"closure-lite-{VARIANT}") == 1

    # Every page of every partition is in its Zarr group, with lineage, openable by xarray.
    lake = settings.lake_root
    total = 0
    for source, keys in partitions.items():
        for key in keys:
            pages = pl.read_parquet(lake / source / key / "pages.parquet")
            group = open_partition(lake, source, key)
            assert set(group.ids["page_id"]) == set(
                pages.filter(pl.col("status") == "ok")["page_id"]
            )
            assert group.attrs["model_name"] == f"closure-lite-{VARIANT}"
            assert group.attrs["model_version"] == 1
            assert group.page_embeddings.shape == (len(group), 384)
            assert np.isfinite(group.page_embeddings).all()
            dataset = xr.open_zarr(group.path)
            assert dict(dataset.sizes)["panel"] == 12
            total += len(group)

    bundle = SearchBundle.load(lake / "index")
    assert len(bundle.pages) == total == bundle.catalog.height
    assert len(bundle.panels) > total  # several panels a page
    assert bundle.manifest["model_version"] == 1
    assert bundle.manifest["page_index_kind"] == "exact"  # a demo corpus is small
    assert bundle.manifest["page_index_recall_at_10"] == 1.0
    [index_event] = search.asset_materializations_for_node("embedding_index")
    assert index_event.metadata["page_index"].value == "exact search"
    # A page's own vector finds itself first.
    vectors = bundle.pages.vectors
    ids, _ = bundle.pages.search(np.asarray(vectors[:5]), k=3)
    assert [row[0] for row in ids] == list(bundle.pages.ids[:5])

    # The map has every page, with clusters, and the ablation beside it.
    frame = load_embedding_map(lake)
    assert frame is not None and frame.height == total
    assert (lake / "analysis" / "embedding_map_vision_only.png").stat().st_size > 10_000
    [map_event] = search.asset_materializations_for_node("embedding_map")
    assert map_event.metadata["clusters"].value >= 2
    assert "share_non_comic" in map_event.metadata["cluster_table"].value
