"""A collection that outgrows a worker: `comix run` splits it into shards by book id, each shard
a run of its own whose tables together equal the whole collection's, page images extracted for
the whole collection are reused, and the cross-source training set reads every shard."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from comix_assets.headless import run_all
from comix_resources.lake import Lake
from comix_resources.search.bundle import conform_catalog
from comix_resources.search.catalog import corpus_catalog
from comix_resources.settings import ComixSettings
from comix_resources.shards import collection_key, is_shard
from comix_resources.tables import BOOKS, DATASPEC, PAGE_QUALITY, PAGES, TRAINING_PAGES

pytestmark = pytest.mark.slow

COLLECTION_ASSETS = "books,pages,panels,page_text,dataspec,page_quality"


def _union(lake: Lake, table, keys: list[str], order: str) -> pl.DataFrame:
    return pl.concat([table.read(lake, "amazon", key) for key in keys]).sort(order)


def test_a_split_collection_equals_the_whole_one(
    comix_env: Path, demo_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "amazon"
    big = root / "Big Box"
    big.mkdir(parents=True)
    for book in sorted((demo_library / "amazon").rglob("*")):
        if book.suffix in {".cbz", ".cbt", ".cb7", ".pdf"}:
            shutil.copy(book, big / book.name)
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(root))
    for name in ("COMIX_DARKHORSE_ROOT", "COMIX_CALIBRE_LIBRARY"):
        monkeypatch.delenv(name)

    # First the collection is small enough to be one partition...
    monkeypatch.setenv("COMIX_SHARD_PAGES", "100000")
    whole = run_all(sources=["amazon"], select=COLLECTION_ASSETS)
    assert [row.partition for row in whole.rows] == ["big-box"] and whole.failed == 0
    lake = Lake(ComixSettings.from_env().lake_root)
    books, pages = BOOKS.read(lake, "amazon", "big-box"), PAGES.read(lake, "amazon", "big-box")
    dataspec = DATASPEC.read(lake, "amazon", "big-box").sort("page_id")
    quality = PAGE_QUALITY.read(lake, "amazon", "big-box").sort("page_id")

    # ...then it is split: the same command runs one partition per shard.
    monkeypatch.setenv("COMIX_SHARD_PAGES", "20")
    split = run_all(sources=["amazon"], select=COLLECTION_ASSETS)
    shards = sorted(row.partition for row in split.rows)
    assert len(shards) >= 2 and all(is_shard(k) and collection_key(k) == "big-box" for k in shards)
    # A check judges its own partition: a shard of few books may miss a rate the whole
    # collection meets (its tables are written all the same); nothing else may fail.
    failures = [row.error for row in split.rows if not row.ok]
    assert all("asset check failed" in error for error in failures), failures
    with dg.DagsterInstance.get() as instance:
        assert sorted(instance.get_dynamic_partitions("amazon_collections")) == shards
        # Nothing extracted twice: every shard found its books' pages from the first run.
        for key in shards:
            [record] = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(["amazon", "pages"]), asset_partitions=[key]
                ),
                limit=1,
            ).records
            metadata = record.asset_materialization.metadata
            assert metadata["books_reused"].value == metadata["books"].value, key

    assert _union(lake, BOOKS, shards, "relative_path").equals(books.sort("relative_path"))
    assert _union(lake, PAGES, shards, "page_id").equals(pages.sort("page_id"))
    assert _union(lake, DATASPEC, shards, "page_id").equals(dataspec)
    assert _union(lake, PAGE_QUALITY, shards, "page_id").equals(quality)
    assert set(_union(lake, DATASPEC, shards, "page_id")["collection"]) == {"big-box"}
    for key in shards:
        folder = Path(lake.root) / "amazon" / "big-box" / "shards" / split_label(key)
        assert (folder / "dataspec.parquet").is_file()

    # The search catalog files a shard's pages under the collection, and links its partition.
    catalog = conform_catalog(corpus_catalog(lake, [("amazon", key) for key in shards]))
    assert sorted(catalog["page_id"]) == sorted(dataspec["page_id"])
    with_pages = {k for k in shards if DATASPEC.read(lake, "amazon", k).height}
    assert set(catalog["collection"]) == {"big-box"} and set(catalog["partition"]) == with_pages
    assert all(path.startswith("amazon/big-box/pages/") for path in catalog["image_path"])

    # The training set reads every shard of the collection.
    from comix_assets.definitions import build_definitions

    defs = build_definitions(ComixSettings.from_env())
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("corpus_job").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("training_pages")]
        )
    assert result.success
    training = TRAINING_PAGES.read(lake)
    kept = dataspec.join(quality.select("page_id", "is_comic"), on="page_id").filter(
        pl.col("is_aligned") & pl.col("is_comic") & (pl.col("detector_panel_count") > 0)
    )
    assert sorted(training["page_id"]) == sorted(kept["page_id"]) and training.height > 0


def split_label(key: str) -> str:
    return key.rsplit("--", 1)[1]
