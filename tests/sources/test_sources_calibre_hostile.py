"""A Calibre library that is broken, foreign, locked or points out of itself: its discovery
fails with a message naming the file (and is retried), or the book is refused; never a crash."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from comix_resources.sources import CalibreSource, SourceUnavailable
from comix_resources.sources.calibre import LOCK_WAIT_S
from tests.sources.test_sources_calibre import CBZ, edit


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(range(256)) * 64, r"cannot read .*metadata\.db: file is not a database"),
        (b"", r"metadata\.db is not a Calibre library database \(no table books, data\)"),
    ],
)
def test_a_database_that_is_not_calibres_names_the_file(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / "metadata.db").write_bytes(content)
    with pytest.raises(SourceUnavailable, match=reason):
        CalibreSource(tmp_path).collections()


def test_an_empty_sqlite_file_or_a_foreign_database(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "metadata.db") as db:
        db.execute("CREATE TABLE books (id INTEGER)")
    with pytest.raises(
        SourceUnavailable, match=r"not a Calibre library database \(no table data\)"
    ):
        CalibreSource(tmp_path).collections()


def test_a_database_without_optional_tables_still_lists_its_books(library_copy: Path) -> None:
    edit(library_copy, ("DROP TABLE identifiers", ()), ("DROP TABLE books_publishers_link", ()))
    collections = CalibreSource(library_copy).collections()
    assert sum(len(c.books) for c in collections) == 4
    book = next(b for c in collections for b in c.books if b.relative_path == CBZ)
    assert dict(book.catalog["identifiers"]) == {} and book.catalog["publisher"] is None


def test_a_database_locked_by_calibre_fails_after_the_short_wait(library_copy: Path) -> None:
    holder = sqlite3.connect(library_copy / "metadata.db", isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    started = time.perf_counter()
    try:
        with pytest.raises(SourceUnavailable, match=r"database is locked .*held by Calibre"):
            CalibreSource(library_copy).collections()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert time.perf_counter() - started < LOCK_WAIT_S + 10
    assert len(CalibreSource(library_copy).collections()) == 2  # free again: read normally


def test_a_short_lock_is_waited_out(library_copy: Path) -> None:
    holder = sqlite3.connect(
        library_copy / "metadata.db", isolation_level=None, check_same_thread=False
    )
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.5, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        assert len(CalibreSource(library_copy).collections()) == 2
    finally:
        release.join()
        holder.close()


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../../../outside", r"path outside the Calibre library: '\.\./\.\./\.\./outside/"),
        ("/etc", r"path outside the Calibre library: '/etc/"),
        ("link-out", r"path outside the Calibre library: 'link-out/"),
        ("bad\x00name", r"invalid path in the Calibre catalog"),
    ],
)
def test_book_paths_are_confined_to_the_library(
    library_copy: Path, tmp_path: Path, path: str, problem: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (library_copy / "link-out").symlink_to(outside)
    edit(library_copy, ("UPDATE books SET path = ? WHERE id = 1", (path,)))
    books = [b for c in CalibreSource(library_copy).collections() for b in c.books]
    refused = next(b for b in books if b.catalog["calibre_id"] == 1)
    assert refused.problem is not None and __import__("re").search(problem, refused.problem)
    assert (refused.size, refused.mtime_ns) == (0, 0)
    assert all(b.problem is None for b in books if b.catalog["calibre_id"] != 1)
