"""The lake on a real S3 server: atomic files, folders published by their marker, the sweep of
killed writers' leftovers, extracted pages and Zarr embeddings equal to the local lake's."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from comix_resources.benchmarks.embeddings import synthetic_partition
from comix_resources.embeddings import open_all, open_partition, write_partition
from comix_resources.ids import sha256_file
from comix_resources.lake import TMP_PREFIX, Lake
from comix_resources.page_store import MANIFEST, extract_collection
from comix_resources.pages import ExtractionLimits

pytestmark = pytest.mark.slow  # starts SeaweedFS once per session (a few seconds)


def _names(lake: Lake, folder: str) -> list[str]:
    lake.fs.invalidate_cache()
    return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in lake.fs.ls(folder))


def test_parquet_round_trip_is_byte_identical(s3_prefix: str, tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", None], "c": [[1.0], []]})
    remote, local = Lake(s3_prefix), Lake(tmp_path)
    for lake in (remote, local):
        lake.write_parquet(lake.path("s", "c", "t.parquet"), frame)
    remote_bytes = remote.read_bytes(remote.path("s", "c", "t.parquet"))
    assert remote_bytes == (tmp_path / "s" / "c" / "t.parquet").read_bytes()
    assert remote.read_parquet(remote.path("s", "c", "t.parquet")).equals(frame)
    assert remote.url(remote.path("s")).startswith("s3://")


def test_a_failed_write_publishes_nothing(s3_prefix: str) -> None:
    lake = Lake(s3_prefix)
    folder = lake.path("x")
    lake.write_bytes(f"{folder}/kept.bin", b"kept")
    big = b"0123456789abcdef" * (1 << 20)  # 16 MiB: a multipart upload, not one PUT
    for payload in (b"half", big):
        with pytest.raises(RuntimeError), lake.open_atomic(f"{folder}/file.bin") as handle:
            handle.write(payload)
            raise RuntimeError("killed")
    assert _names(lake, folder) == ["kept.bin"]
    lake.write_bytes(f"{folder}/file.bin", big)
    assert lake.fs.size(f"{folder}/file.bin") == len(big)
    with lake.open_atomic(f"{folder}/note.txt", "w") as handle:
        handle.write("text mode")
    assert lake.read_bytes(f"{folder}/note.txt") == b"text mode"


def test_a_rewritten_folder_is_unpublished_first_and_keeps_no_old_file(s3_prefix: str) -> None:
    lake = Lake(s3_prefix)
    book = lake.path("s", "c", "pages", "book")
    with lake.staging_dir(book) as staging:
        for name in ("0000.jpg", "0001.jpg", MANIFEST):
            lake.write_bytes(f"{staging}/{name}", b"old", atomic=False)
    with pytest.raises(RuntimeError), lake.staging_dir(book) as staging:
        lake.write_bytes(f"{staging}/0000.jpg", b"half", atomic=False)
        raise RuntimeError("killed before its manifest")
    # No manifest: no reader trusts the half-written folder, the next writer replaces it.
    assert _names(lake, book) == ["0000.jpg"]
    with lake.staging_dir(book) as staging:
        lake.write_bytes(f"{staging}/0000.jpg", b"new", atomic=False)
        lake.write_bytes(f"{staging}/{MANIFEST}", b"{}", atomic=False)
    assert _names(lake, book) == ["0000.jpg", MANIFEST]
    assert lake.read_bytes(f"{book}/0000.jpg") == b"new"


def test_stale_temporaries_are_swept_from_an_object_store(s3_prefix: str) -> None:
    lake = Lake(s3_prefix)
    folder = lake.path("amazon", "c", "pages")
    # What killed writers leave: a staging folder (a prefix, no object of its own; asking it
    # for its time raised IsADirectoryError) and a temporary file; beside a published book.
    lake.write_bytes(f"{folder}/{TMP_PREFIX}abc-book/0000.jpg", b"x", atomic=False)
    lake.write_bytes(f"{folder}/{TMP_PREFIX}def-pages.parquet", b"x", atomic=False)
    lake.write_bytes(f"{folder}/book/0000.jpg", b"y", atomic=False)
    assert lake.remove_stale_temporaries(folder, older_than_s=3600) == []
    removed = lake.remove_stale_temporaries(folder, older_than_s=-60)
    assert sorted(path.rsplit("/", 1)[-1] for path in removed) == [
        f"{TMP_PREFIX}abc-book",
        f"{TMP_PREFIX}def-pages.parquet",
    ]
    assert _names(lake, folder) == ["book"]


def test_extracted_pages_on_s3_equal_the_local_lakes(
    s3_prefix: str, tmp_path: Path, shared_fixtures: Path
) -> None:
    books = [
        (book_id, path, sha256_file(path))
        for book_id, path in [
            ("cbz0000000000001", shared_fixtures / "comicbox" / "Captain Science #001.cbz"),
            ("cb70000000000002", shared_fixtures / "comicbox" / "Captain Science #001.cb7"),
            ("empty00000000003", shared_fixtures / "comicbox" / "empty.cbz"),
        ]
    ]
    limits = ExtractionLimits()
    tables = {}
    for name, lake in (("s3", Lake(s3_prefix)), ("local", Lake(tmp_path / "lake"))):
        pages_dir = lake.path("calibre", "c", "pages")
        frame, failures = extract_collection(lake, pages_dir, books, limits)
        tables[name] = (lake, frame, failures)
    (remote, remote_frame, remote_failures), (local, local_frame, local_failures) = (
        tables["s3"],
        tables["local"],
    )
    assert remote_frame.equals(local_frame) and remote_failures == local_failures
    assert "empty00000000003" in remote_failures  # bad input: a reason, the rest goes on
    assert remote_frame.height == 10
    for path in remote_frame["path"].drop_nulls():
        assert remote.read_bytes(remote.path(path)) == local.read_bytes(local.path(path))
    # A second run trusts the published manifests and extracts nothing again.
    reused = []
    extract_collection(
        remote,
        remote.path("calibre", "c", "pages"),
        books,
        limits,
        on_book=lambda b, r: reused.append(r),
    )
    assert reused == [True, True]


def test_zarr_embeddings_on_s3(s3_prefix: str) -> None:
    partition = synthetic_partition(12, seed=5)
    url = write_partition(s3_prefix, **partition)
    assert url.startswith("s3://")
    stored = open_partition(s3_prefix, "amazon", "demo")
    assert len(stored) == 12 and stored.ids["page_id"] == partition["ids"]["page_id"]
    assert [p.path for p in open_all(s3_prefix)] == [stored.path]
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
