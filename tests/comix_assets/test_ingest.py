"""Materialize each source's assets through Dagster on the demo library and on bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.lake import Lake
from comix_resources.settings import SOURCES, ComixSettings

BOOKS_FAILURE_CHECK = "books_readable"

pytestmark = pytest.mark.slow


def materialize_partition(settings: ComixSettings, instance, source: str, key: str):
    defs = build_definitions(settings)
    job = defs.resolve_job_def(f"{source}_collection_job")
    return job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)


def all_collection_keys(settings: ComixSettings, source: str) -> list[str]:
    return [c.key for c in build_resources(settings)["sources"].source(source).collections()]


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_materializes_books_and_pages(comix_env, demo_library, source) -> None:
    settings = ComixSettings.from_env()
    lake = Lake(settings.lake_root)
    with dg.DagsterInstance.ephemeral() as instance:
        keys = all_collection_keys(settings, source)
        assert len(keys) >= 2
        instance.add_dynamic_partitions(f"{source}_collections", keys)
        for key in keys:
            result = materialize_partition(settings, instance, source, key)
            assert result.success, key
            checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
            assert checks[BOOKS_FAILURE_CHECK].passed
            books = lake.read_parquet(lake.path(source, key, "books.parquet"))
            pages = lake.read_parquet(lake.path(source, key, "pages.parquet"))
            assert books["status"].to_list() == ["ok"] * books.height
            assert books["book_id"].is_unique().all()
            assert pages["page_id"].is_unique().all()
            assert pages.height == int(books["page_count"].sum())
            truth_pages = 0
            for book in books.iter_rows(named=True):
                truth = json.loads(Path(book["path"] + ".truth.json").read_text())
                book_pages = pages.filter(pl.col("book_id") == book["book_id"]).sort("page_index")
                truth_pages += len(truth["pages"])
                sizes = list(zip(book_pages["width"], book_pages["height"], strict=True))
                assert sizes == [(p["width"], p["height"]) for p in truth["pages"]]
                spreads = book_pages["is_spread"].to_list()
                assert spreads == [p["is_spread"] for p in truth["pages"]]
            assert truth_pages == pages.height
            first = pages.row(0, named=True)
            image_path = settings.lake_root / first["path"]
            assert (
                first["path"] == f"{source}/{key}/pages/{first['book_id']}/0000.{first['format']}"
            )
            with Image.open(image_path) as image:
                assert image.size == (first["width"], first["height"])
            materialization = result.asset_materializations_for_node(f"{source}__pages")[0]
            assert "data:image/png;base64," in materialization.metadata["thumbnails"].value


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 90), (seed * 40 % 255, 80, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_bad_collection(root: Path) -> Path:
    """A collection where most files are broken in a different way, and two are good."""
    collection = root / "Mixed Bag"
    collection.mkdir(parents=True)
    with zipfile.ZipFile(collection / "good.cbz", "w") as archive:
        for index in range(3):
            archive.writestr(f"p{index + 1}.jpg", _jpeg(index))
    with zipfile.ZipFile(collection / "corrupt-page.cbz", "w") as archive:
        archive.writestr("p1.jpg", _jpeg(5))
        archive.writestr("p2.jpg", b"\xff\xd8 this is not a jpeg at all")
    (collection / "zero.cbz").write_bytes(b"")
    (collection / "truncated.cbz").write_bytes((collection / "good.cbz").read_bytes()[:150])
    with zipfile.ZipFile(collection / "zipslip.cbz", "w") as archive:
        archive.writestr("../../escaped.jpg", _jpeg(1))
        archive.writestr("p1.jpg", _jpeg(2))
    with zipfile.ZipFile(collection / "no-images.cbz", "w") as archive:
        archive.writestr("ComicInfo.xml", "<ComicInfo><Title>Only metadata</Title></ComicInfo>")
    return collection


def test_bad_files_get_errors_and_the_rest_materializes(comix_env, tmp_path, monkeypatch) -> None:
    root = tmp_path / "darkhorse"
    write_bad_collection(root)
    monkeypatch.setenv("COMIX_DARKHORSE_ROOT", str(root))
    settings = ComixSettings.from_env()
    before = {p for p in tmp_path.rglob("*") if "comix-home" not in p.parts}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("darkhorse_collections", ["mixed-bag"])
        result = materialize_partition(settings, instance, "darkhorse", "mixed-bag")
    assert result.success
    lake = Lake(settings.lake_root)
    books = lake.read_parquet(lake.path("darkhorse", "mixed-bag", "books.parquet"))
    status = dict(zip(books["relative_path"], books["status"], strict=True))
    errors = dict(zip(books["relative_path"], books["error"], strict=True))
    assert status["Mixed Bag/good.cbz"] == "ok"
    assert status["Mixed Bag/corrupt-page.cbz"] == "ok"
    for bad in ("zero", "truncated", "zipslip", "no-images"):
        assert status[f"Mixed Bag/{bad}.cbz"] == "error", bad
        assert errors[f"Mixed Bag/{bad}.cbz"], bad
    assert "no page images" in errors["Mixed Bag/no-images.cbz"]
    assert ".." in errors["Mixed Bag/zipslip.cbz"]

    pages = lake.read_parquet(lake.path("darkhorse", "mixed-bag", "pages.parquet"))
    assert (pages["status"] == "ok").sum() == 4
    broken = pages.filter(pl.col("status") == "error")
    assert broken["source_name"].to_list() == ["p2.jpg"] and broken["error"][0]

    check = {e.check_name: e for e in result.get_asset_check_evaluations()}[BOOKS_FAILURE_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["failed"].value == 4
    assert "zipslip.cbz" in check.metadata["failures"].value

    after = {p for p in tmp_path.rglob("*") if "comix-home" not in p.parts}
    assert after == before, "something was written outside the lake"
    assert not list(tmp_path.rglob("escaped.jpg"))
