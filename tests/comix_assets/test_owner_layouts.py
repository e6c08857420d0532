"""The layouts owners keep, through Dagster on the demo library: a Dark Horse app download
(tar and folder), loose pages of three books in one folder, and ComicInfo page types."""

from __future__ import annotations

import hashlib
import itertools
import json
import tarfile
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from comix_assets.definitions import build_definitions
from comix_resources.lake import Lake
from comix_resources.settings import ComixSettings

pytestmark = pytest.mark.slow


def truth_of(book: dict) -> dict:
    return json.loads(Path(book["path"] + ".truth.json").read_text())


def materializations(result: dg.ExecuteInProcessResult, node: str) -> dict:
    [event] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in event.metadata.items()}


def test_app_downloads_loose_pages_and_comicinfo_types(comix_env, demo_library) -> None:
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    lake = Lake(settings.lake_root)
    runs = {("darkhorse", "dark-horse-digital"), ("amazon", "loose-pages")}
    with dg.DagsterInstance.ephemeral() as instance:
        results = {}
        for source, key in sorted(runs):
            instance.add_dynamic_partitions(f"{source}_collections", [key])
            job = defs.resolve_job_def(f"{source}_collection_job")
            results[key] = job.execute_in_process(instance=instance, partition_key=key)
            assert results[key].success, key
        # ComicInfo <Pages> in the CBZ and the CBT of another collection
        instance.add_dynamic_partitions("amazon_collections", ["night-harbor-case-files"])
        job = defs.resolve_job_def("amazon_collection_job")
        assert job.execute_in_process(
            instance=instance, partition_key="night-harbor-case-files"
        ).success
        typed = defs.resolve_job_def("amazon_page_types_job").execute_in_process(
            instance=instance, partition_key="night-harbor-case-files"
        )
        assert typed.success

    # --- the app downloads: pages in sort_order, uuid and direction from the manifest ---
    books = lake.read_parquet(lake.path("darkhorse", "dark-horse-digital", "books.parquet"))
    pages = lake.read_parquet(lake.path("darkhorse", "dark-horse-digital", "pages.parquet"))
    assert books.sort("relative_path").select("format", "container", "grouping").rows() == [
        ("cbt", "darkhorse", "file"),
        ("folder", "darkhorse", "manifest"),
    ]
    for book in books.iter_rows(named=True):
        truth = truth_of(book)
        assert book["status"] == "ok" and book["book_uuid"] == truth["book_uuid"]
        assert (book["title"], book["metadata_origin"]) == (truth["title"], "manifest.json")
        assert book["is_rtl"] is (truth["reading_direction"] == "rtl")
        got = pages.filter(pl.col("book_id") == book["book_id"]).sort("page_index")
        assert got.select("width", "height", "is_spread").rows() == [
            (p["width"], p["height"], p["is_spread"]) for p in truth["pages"]
        ]
        path = Path(book["path"])
        if path.is_dir():
            members = {p.name: p.read_bytes() for p in path.iterdir()}
        else:
            with tarfile.open(path) as tar:
                members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
        manifest = json.loads(members["manifest.json"])
        in_order = sorted(manifest["pages"], key=lambda p: p["sort_order"])
        assert got["sha256"].to_list() == [
            hashlib.sha256(members[p["src_image"]]).hexdigest() for p in in_order
        ]
    panels_meta = materializations(results["dark-horse-digital"], "darkhorse__panels")
    assert (panels_meta["books_declaring_rtl"], panels_meta["books_declaring_ltr"]) == (1, 1)
    assert panels_meta["reading_direction"] == "ltr"  # the collection is not listed as manga
    # the right-to-left book was cut right to left: in a row, the first panel is the right one
    rtl_book = books.filter(pl.col("is_rtl"))["book_id"].item()
    panels = lake.read_parquet(lake.path("darkhorse", "dark-horse-digital", "panels.parquet"))
    rows_checked = 0
    for _, page in panels.filter(
        pl.col("page_id").str.starts_with(rtl_book) & (pl.col("category") == "panel")
    ).group_by("page_id"):
        ordered = page.sort("order")["bbox"].to_list()
        for a, b in itertools.pairwise(ordered):
            if abs(a[1] - b[1]) < 30:
                assert a[0] > b[0]
                rows_checked += 1
    assert rows_checked > 0

    # --- loose pages: three books out of one folder ---
    books = lake.read_parquet(lake.path("amazon", "loose-pages", "books.parquet"))
    pages = lake.read_parquet(lake.path("amazon", "loose-pages", "pages.parquet"))
    assert books.height == 3 and set(books["grouping"]) == {"page_names"}
    for book in books.iter_rows(named=True):
        truth = truth_of(book)
        assert book["status"] == "ok" and book["page_count"] == len(truth["pages"])
        assert book["title"] == truth["book"]
        assert book["series"] == truth["series"]
        got = pages.filter(pl.col("book_id") == book["book_id"]).sort("page_index")
        assert got["source_name"].to_list() == truth["page_files"]
        assert got.select("width", "height").rows() == [
            (p["width"], p["height"]) for p in truth["pages"]
        ]
    assert materializations(results["loose-pages"], "amazon__books")["groupings"] == {
        "page_names": 3
    }

    # --- page types scored against the books' own ComicInfo page types ---
    meta = materializations(typed, "amazon__page_types")
    assert meta["method"] == "rules"  # no page-stream model trained here
    assert meta["comicinfo_labelled_books"] == 2
    assert meta["comicinfo_labelled_pages"] > 0
    assert 0.0 < meta["accuracy_vs_comicinfo"] <= 1.0
    assert "comicinfo_class" in meta["agreement_with_comicinfo"]
