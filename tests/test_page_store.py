"""Extraction checks the file's bytes again and trusts an extraction record only for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from comix_resources import page_store
from comix_resources.errors import BookError
from comix_resources.ids import sha256_file
from comix_resources.lake import Lake
from comix_resources.page_store import MANIFEST, extract_book, extract_collection
from comix_resources.pages import ExtractionLimits
from tests.hostile import cbz, jpeg


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def test_a_file_rewritten_since_the_books_step_is_refused(tmp_path: Path, lake: Lake) -> None:
    book = tmp_path / "b.cbz"
    cbz([("p1.jpg", jpeg(seed=1))])(book)
    catalogued = sha256_file(book)
    cbz([("p1.jpg", jpeg(seed=2)), ("p2.jpg", jpeg(seed=3))])(book)
    with pytest.raises(BookError, match=r"file changed since the books step"):
        extract_book(
            lake, lake.path("pages"), catalogued[:16], book, ExtractionLimits(), catalogued
        )
    assert not lake.exists(lake.path("pages", catalogued[:16]))


def test_an_extraction_record_is_reused_only_for_the_same_bytes(tmp_path: Path, lake: Lake) -> None:
    book = tmp_path / "b.cbz"
    cbz([("p1.jpg", jpeg(seed=1))])(book)
    sha = sha256_file(book)
    pages_dir = lake.path("pages")
    _, reused = extract_book(lake, pages_dir, "id", book, ExtractionLimits(), sha)
    assert not reused and lake.read_json(f"{pages_dir}/id/{MANIFEST}")["sha256"] == sha
    assert extract_book(lake, pages_dir, "id", book, ExtractionLimits(), sha)[1]
    # Same id, other bytes (a stale record): extracted again, never reused.
    cbz([("p1.jpg", jpeg(seed=5)), ("p2.jpg", jpeg(seed=6))])(book)
    rows, reused = extract_book(lake, pages_dir, "id", book, ExtractionLimits(), sha256_file(book))
    assert not reused and len(rows) == 2
    # A damaged record is extracted again too.
    lake.write_bytes(f"{pages_dir}/id/{MANIFEST}", b"{not json")
    assert not extract_book(lake, pages_dir, "id", book, ExtractionLimits(), sha256_file(book))[1]


def test_any_exception_reading_a_book_is_that_books_failure(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = tmp_path / "good.cbz", tmp_path / "bad.cbz"
    cbz([("p1.jpg", jpeg(seed=1))])(good)
    cbz([("p1.jpg", jpeg(seed=2))])(bad)
    real = page_store.iter_pages

    def pages(path: Path, limits: ExtractionLimits, page_files=()):
        if path == bad:
            raise MemoryError("the decoder ran out")
        return real(path, limits, page_files)

    monkeypatch.setattr(page_store, "iter_pages", pages)
    books = [("g", good, sha256_file(good)), ("b", bad, sha256_file(bad))]
    table, failures = extract_collection(lake, lake.path("pages"), books, ExtractionLimits())
    assert failures == {"b": "MemoryError: the decoder ran out"}
    assert table["book_id"].to_list() == ["g"]


def test_a_lake_that_cannot_be_written_stops_the_run(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = tmp_path / "b.cbz"
    cbz([("p1.jpg", jpeg(seed=1))])(book)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lake, "write_bytes", full)
    with pytest.raises(OSError, match="No space left"):
        extract_collection(
            lake, lake.path("pages"), [("b", book, sha256_file(book))], ExtractionLimits()
        )
