"""Panels, page text, DataSpec, page quality and the training set through Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pycocotools.coco import COCO

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.lake import Lake
from comix_resources.settings import ComixSettings

pytestmark = pytest.mark.slow


def test_a_collection_is_annotated_checked_and_feeds_training(comix_env, demo_library) -> None:
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    lake = Lake(settings.lake_root)
    key = "night-harbor-case-files"  # has book-text, blank and dark pages
    assert key in [
        c.key for c in build_resources(settings)["sources"].source("amazon").collections()
    ]
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("amazon_collections", [key])
        job = defs.resolve_job_def("amazon_collection_job")
        first = job.execute_in_process(instance=instance, partition_key=key)
        assert first.success
        page_text_bytes = (settings.lake_root / "amazon" / key / "page_text.parquet").read_bytes()
        second = job.execute_in_process(
            instance=instance,
            partition_key=key,
            asset_selection=[dg.AssetKey(["amazon", "page_text"])],
        )
        corpus = defs.resolve_job_def("corpus_job").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("training_pages")]
        )
    assert second.success and corpus.success

    pages = lake.read_parquet(lake.path("amazon", key, "pages.parquet"))
    panels = lake.read_parquet(lake.path("amazon", key, "panels.parquet"))
    dataspec = lake.read_parquet(lake.path("amazon", key, "dataspec.parquet"))
    quality = lake.read_parquet(lake.path("amazon", key, "page_quality.parquet"))
    assert set(panels["page_id"]) <= set(pages["page_id"])
    assert dataspec.height == quality.height == pages.height

    coco = COCO(str(settings.lake_root / "amazon" / key / "panels.coco.json"))
    assert len(coco.getImgIds()) == pages.height
    assert len(coco.getAnnIds()) == panels.height

    # Compare with the ground truth beside each book: every truth panel of a story page found.
    books = lake.read_parquet(lake.path("amazon", key, "books.parquet"))
    story_pages = 0
    for book in books.iter_rows(named=True):
        truth = json.loads(Path(book["path"] + ".truth.json").read_text())
        for page in truth["pages"]:
            if page["page_type"] != "story":
                continue
            story_pages += 1
            page_id = f"{book['book_id']}-{page['page_index']:04d}"
            found = panels.filter((pl.col("page_id") == page_id) & (pl.col("category") == "panel"))
            assert found.height == len(page["panels"]), page_id
    assert story_pages > 0

    non_comic_truth = {
        f"{book['book_id']}-{page['page_index']:04d}"
        for book in books.iter_rows(named=True)
        for page in json.loads(Path(book["path"] + ".truth.json").read_text())["pages"]
        if not page["is_comic"]
    }
    assert non_comic_truth
    assert set(quality.filter(~pl.col("is_comic"))["page_id"]) == non_comic_truth
    assert dataspec["is_aligned"].mean() >= 0.9

    checks = {e.check_name: e for e in first.get_asset_check_evaluations()}
    for name in ("panels_schema", "dataspec_schema", "aligned_page_rate", "page_quality_schema"):
        assert checks[name].passed, name
        assert "expect_" in checks[name].metadata["report"].value

    assert (settings.lake_root / "amazon" / key / "page_text.parquet").read_bytes() == (
        page_text_bytes
    ), "an unchanged partition must keep its page_text rows (no engine paid twice)"
    reran = second.asset_materializations_for_node("amazon__page_text")[0].metadata
    assert reran["reused"].value == pages.height

    training = lake.read_parquet(lake.path("training", "pages.parquet"))
    assert 0 < training.height < pages.height
    assert not set(training["page_id"]) & non_comic_truth
    assert training["is_aligned"].all()
