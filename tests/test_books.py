"""The books table's boundary: any failure is the book's row, bounded values, the truth about
extraction, and names that are not UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from comix_resources import books as books_module
from comix_resources.books import (
    BOOKS_SCHEMA,
    book_paths_to_extract,
    build_books_table,
    mark_extraction_failures,
)
from comix_resources.fingerprints import FingerprintCache
from comix_resources.pages import ExtractionLimits
from comix_resources.sources import FolderTreeSource
from tests.hostile import cbz, comic_info, jpeg


def table(root: Path, tmp_path: Path) -> pl.DataFrame:
    [collection] = FolderTreeSource("amazon", root).collections()
    cache = FingerprintCache(tmp_path / "fingerprints.sqlite")
    return build_books_table("amazon", collection, cache, ExtractionLimits())


def test_an_unexpected_exception_is_the_books_error_and_the_rest_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "C").mkdir(parents=True)
    cbz([("p1.jpg", jpeg(seed=1))])(root / "C" / "good.cbz")
    cbz([("p1.jpg", jpeg(seed=2))])(root / "C" / "trips-a-bug.cbz")
    real = books_module.inspect_book

    def inspect(path: Path, limits: ExtractionLimits, page_files=()):
        if path.name == "trips-a-bug.cbz":
            raise KeyError("a library's own error type")
        return real(path, limits, page_files)

    monkeypatch.setattr(books_module, "inspect_book", inspect)
    rows = {r["relative_path"]: r for r in table(root, tmp_path).iter_rows(named=True)}
    assert rows["C/good.cbz"]["status"] == "ok"
    bad = rows["C/trips-a-bug.cbz"]
    assert bad["status"] == "error"
    assert bad["error"] == 'KeyError: "a library\'s own error type"'
    assert bad["book_id"] and bad["sha256"]  # what was known before the failure is kept


def test_metadata_a_table_cannot_hold_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "C").mkdir(parents=True)
    info = comic_info(Title="T" * 50_000, Year="2147483648", Writer=", ".join(["W"] * 500))
    cbz([("ComicInfo.xml", info), ("p1.jpg", jpeg())])(root / "C" / "big.cbz")
    [row] = table(root, tmp_path).iter_rows(named=True)
    assert row["status"] == "ok"
    assert len(row["title"]) == 1000 and row["title"].endswith("\u2026")
    assert row["year"] is None
    assert len(row["authors"]) <= 100


def test_a_name_that_is_not_utf8_is_kept_exactly_and_shown_safely(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = root / os.fsdecode(b"caf\xe9")
    folder.mkdir(parents=True)
    name = os.fsdecode(b"\xff\xfe.cbz")
    cbz([("p1.jpg", jpeg())])(folder / name)
    frame = table(root, tmp_path)
    [row] = frame.iter_rows(named=True)
    assert row["status"] == "ok", row["error"]
    assert row["relative_path"] == "caf\\xe9/\\xff\\xfe.cbz"
    assert row["raw_path"] == os.fsencode(folder / name)
    [book] = book_paths_to_extract(frame)
    assert book.path == folder / name and book.path.is_file()


def test_extraction_failures_turn_ok_books_into_errors() -> None:
    frame = pl.DataFrame(
        [
            {"book_id": "a", "relative_path": "a.cbz", "status": "ok", "error": None},
            {"book_id": "b", "relative_path": "b.cbz", "status": "ok", "error": None},
            {
                "book_id": "c",
                "relative_path": "c.cbz",
                "status": "error",
                "error": "zero-byte file",
            },
        ],
        schema={k: BOOKS_SCHEMA[k] for k in ("book_id", "relative_path", "status", "error")},
    )
    marked = mark_extraction_failures(frame, {"b": "corrupt zip entry 'p2.jpg': Bad CRC-32"})
    assert marked.columns == frame.columns
    assert marked["status"].to_list() == ["ok", "error", "error"]
    assert marked["error"].to_list() == [
        None,
        "pages could not be extracted: corrupt zip entry 'p2.jpg': Bad CRC-32",
        "zero-byte file",
    ]


def test_a_book_the_source_refuses_is_an_error_row_and_is_never_opened(tmp_path: Path) -> None:
    from comix_resources.books import catalog_book
    from comix_resources.sources import BookFile, Collection

    outside = tmp_path / "outside.cbz"  # a real comic, but out of the library
    cbz([("p1.jpg", jpeg())])(outside)
    refused = BookFile(
        outside, "../outside.cbz", "cbz", 0, 0, problem="path outside the Calibre library: 'x'"
    )
    cache = FingerprintCache(tmp_path / "fingerprints.sqlite")
    row = catalog_book(
        "calibre", Collection("c", "C", (refused,)), refused, cache, ExtractionLimits()
    )
    assert row["status"] == "error" and row["error"] == "path outside the Calibre library: 'x'"
    assert row["sha256"] is None and row["book_id"].startswith("error-")
    assert cache.cached_sha256(outside, 0, 0) is None  # not even hashed


def test_declared_spreads_and_reading_directions() -> None:
    import polars as pl

    from comix_resources.books import declared_reading_directions, with_declared_spreads
    from comix_resources.tables import BOOKS, PAGES

    books = pl.DataFrame(
        [
            {
                "book_id": "a",
                "is_rtl": True,
                "declared_pages": [
                    {"page_index": 1, "type": "Story", "double_page": True},
                    {"page_index": 2, "type": "Story", "double_page": False},
                ],
            },
            {"book_id": "b", "is_rtl": False, "declared_pages": None},
            {"book_id": "c", "is_rtl": None, "declared_pages": None},
        ],
        schema={name: BOOKS.schema[name] for name in ("book_id", "is_rtl", "declared_pages")},
    )
    pages = pl.DataFrame(
        {
            "book_id": ["a", "a", "a", "b"],
            "page_index": [0, 1, 2, 1],
            "is_spread": [False, False, True, False],
        },
        schema={name: PAGES.schema[name] for name in ("book_id", "page_index", "is_spread")},
    )
    marked = with_declared_spreads(pages, books)
    # DoublePage marks page 1; a declared "false" never unmarks the wide page 2
    assert marked["is_spread"].to_list() == [False, True, True, False]
    assert marked.columns == pages.columns
    assert declared_reading_directions(books) == {"a": True, "b": False}


def test_each_book_is_detected_in_its_own_reading_direction(tmp_path: Path) -> None:
    import polars as pl

    from comix_resources.detection.base import Detection
    from comix_resources.detection.table import detect_pages
    from comix_resources.lake import Lake

    lake = Lake(str(tmp_path))
    lake.write_bytes(lake.path("p.jpg"), jpeg(seed=3))
    seen: list[bool] = []

    class Recorder:
        name = "recorder"
        version = "1"

        def detect(self, image, rtl: bool = False, page_type: str | None = None) -> Detection:
            seen.append(rtl)
            height, width = image.shape[:2]
            return Detection(width, height, (), self.name, self.version, True)

    pages = pl.DataFrame(
        {
            "page_id": ["a-0000", "b-0000", "c-0000"],
            "book_id": ["a", "b", "c"],
            "path": ["p.jpg"] * 3,
            "status": ["ok"] * 3,
        }
    )
    detect_pages(lake, pages, Recorder(), rtl=True, rtl_books={"a": False, "b": True})
    assert seen == [False, True, True]  # c declares nothing: the collection's direction
