"""Calibre libraries (Humble Bundle, DriveThruComics, ...): collections from the catalog."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from comix_resources.ids import partition_keys
from comix_resources.sources.model import (
    BookFile,
    Collection,
    SourceUnavailable,
    unknown_collection,
)

log = logging.getLogger(__name__)

# Calibre format name -> declared format, in order of preference: a book stored in several
# comic formats is read once, from the first one it has. Other formats (MOBI, AZW3, TXT, ...)
# are ignored; a book with no comic format is skipped.
CALIBRE_FORMATS: dict[str, str] = {
    "CBZ": "cbz",
    "CBR": "cbr",
    "CB7": "cb7",
    "CBT": "cbt",
    "PDF": "pdf",
    "EPUB": "epub",
}

COLLECTION_BY = ("tag", "series", "publisher")

# Where a book goes when it has no value for the grouping field.
FALLBACK_COLLECTION = {"tag": "Untagged", "series": "No series", "publisher": "No publisher"}

# Calibre stores "no date" as 0101-01-01 (its UNDEFINED_DATE).
_UNDEFINED_YEAR = 101

# How long to wait for Calibre's own write lock. Its writes take milliseconds; a lock held
# longer (calibre busy with a bulk edit) fails this discovery, which is simply tried again.
LOCK_WAIT_S = 5.0
# Tables without which a file is not a Calibre library; the others only add metadata.
REQUIRED_TABLES = ("books", "data")


class CalibreSource:
    """A Calibre library read from its ``metadata.db``; never writes to it.

    A collection is a tag (default), a series or a publisher; a book with several tags is in
    each of their collections. Books without a value go to "Untagged" / "No series" /
    "No publisher". A book whose file is missing on disk is still listed, with size 0 and
    mtime 0, so the books asset can report it as missing rather than silently dropping it.
    A library without ``metadata.db`` yields no collections (with a warning). A database that
    cannot be read (not SQLite, empty, not a Calibre library, locked by Calibre) raises
    SourceUnavailable naming the file and the reason. A book whose files would lie outside
    the library (``../``, an absolute path, a link out) is listed with that problem and
    never opened.
    """

    name = "calibre"

    def __init__(self, library: Path, collection_by: str = "tag") -> None:
        if collection_by not in COLLECTION_BY:
            raise ValueError(
                f"collection_by must be one of {', '.join(COLLECTION_BY)}, not {collection_by!r}"
            )
        self.library = Path(library).expanduser().absolute()
        self.collection_by = collection_by

    def __repr__(self) -> str:
        return f"CalibreSource(library={str(self.library)!r}, collection_by={self.collection_by!r})"

    @property
    def database(self) -> Path:
        return self.library / "metadata.db"

    def collections(self) -> list[Collection]:
        groups = self._groups()
        keys = partition_keys(groups)
        return sorted(
            (Collection(keys[name], name, books) for name, books in groups.items()),
            key=lambda c: c.key,
        )

    def collection(self, key: str) -> Collection:
        for found in self.collections():
            if found.key == key:
                return found
        raise unknown_collection(self.name, key, [c.key for c in self.collections()])

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # mode=ro, not immutable=1: Calibre may be writing, and immutable would let SQLite skip
        # locking and read a half-written page. The timeout waits out Calibre's short writes.
        uri = self.database.as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_S)) as connection:
            yield connection

    def _groups(self) -> dict[str, tuple[BookFile, ...]]:
        if not self.database.is_file():
            log.warning("calibre: %s not found; no collections", self.database)
            return {}
        try:
            with self._connect() as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
                missing = [table for table in REQUIRED_TABLES if table not in tables]
                if missing:
                    raise SourceUnavailable(
                        f"calibre: {self.database} is not a Calibre library database (no table"
                        f" {', '.join(missing)})"
                    )
                books = self._books(db, tables)
                group_names = self._group_names(db, tables)
        except sqlite3.Error as error:
            reason = str(error)
            if "locked" in reason or "busy" in reason:
                reason += f" (held by Calibre for more than {LOCK_WAIT_S:g} s)"
            raise SourceUnavailable(
                f"calibre: cannot read {self.database}: {reason}; tried again at the next discovery"
            ) from error
        fallback = FALLBACK_COLLECTION[self.collection_by]
        groups: dict[str, list[BookFile]] = defaultdict(list)
        for book_id, book in books.items():
            for name in group_names.get(book_id) or (fallback,):
                groups[name].append(book)
        return {
            name: tuple(sorted(members, key=lambda b: b.relative_path))
            for name, members in groups.items()
        }

    def _group_names(self, db: sqlite3.Connection, tables: set[str]) -> dict[int, list[str]]:
        table, link, column = {
            "tag": ("tags", "books_tags_link", "tag"),
            "series": ("series", "books_series_link", "series"),
            "publisher": ("publishers", "books_publishers_link", "publisher"),
        }[self.collection_by]
        return _many(
            db,
            tables,
            (table, link),
            f"SELECT l.book, t.name FROM {link} l JOIN {table} t ON t.id = l.{column} "
            "ORDER BY l.book, t.name",
        )

    def _books(self, db: sqlite3.Connection, tables: set[str]) -> dict[int, BookFile]:
        authors = _many(
            db,
            tables,
            ("authors", "books_authors_link"),
            "SELECT l.book, a.name FROM books_authors_link l "
            "JOIN authors a ON a.id = l.author ORDER BY l.book, l.id",
        )
        tags = _many(
            db,
            tables,
            ("tags", "books_tags_link"),
            "SELECT l.book, t.name FROM books_tags_link l "
            "JOIN tags t ON t.id = l.tag ORDER BY l.book, t.name",
        )
        series = _one(
            db,
            tables,
            ("series", "books_series_link"),
            "SELECT l.book, s.name FROM books_series_link l JOIN series s ON s.id = l.series",
        )
        publishers = _one(
            db,
            tables,
            ("publishers", "books_publishers_link"),
            "SELECT l.book, p.name FROM books_publishers_link l "
            "JOIN publishers p ON p.id = l.publisher",
        )
        identifiers: dict[int, dict[str, str]] = defaultdict(dict)
        for book, kind, value in _rows(
            db,
            tables,
            ("identifiers",),
            "SELECT book, type, val FROM identifiers ORDER BY book, type",
        ):
            identifiers[book][kind] = value
        formats: dict[int, dict[str, str]] = defaultdict(dict)
        for book, fmt, file_name in db.execute("SELECT book, format, name FROM data ORDER BY id"):
            formats[book][str(fmt).upper()] = file_name

        result: dict[int, BookFile] = {}
        rows = db.execute(
            "SELECT id, title, path, pubdate, series_index, uuid FROM books ORDER BY id"
        )
        for book_id, title, book_path, pubdate, series_index, uuid in rows:
            available = formats.get(book_id, {})
            chosen = next((f for f in CALIBRE_FORMATS if f in available), None)
            if chosen is None:
                log.debug(
                    "calibre: book %s (%r) has no comic format (%s); skipped",
                    book_id,
                    title,
                    ", ".join(sorted(available)) or "no files",
                )
                continue
            book_series = series.get(book_id)
            catalog: dict[str, Any] = {
                "calibre_id": book_id,
                "title": title,
                "authors": tuple(authors.get(book_id, ())),
                "tags": tuple(tags.get(book_id, ())),
                "series": book_series,
                # Calibre keeps an index (default 1.0) even without a series: meaningless there.
                "series_index": series_index if book_series else None,
                "publisher": publishers.get(book_id),
                "year": _year(pubdate),
                "identifiers": MappingProxyType(dict(identifiers.get(book_id, {}))),
                "uuid": uuid,
                "formats": tuple(sorted(available)),
            }
            relative = f"{book_path}/{available[chosen]}.{chosen.lower()}"
            result[book_id] = _book_file(self.library, relative, CALIBRE_FORMATS[chosen], catalog)
        return result


def _book_file(library: Path, relative: str, fmt: str, catalog: dict[str, Any]) -> BookFile:
    path = library / relative
    problem = _outside(library, path, relative)
    size, mtime_ns = 0, 0  # listed anyway: the books asset reports the problem or "missing"
    if problem is None:
        try:
            stat = path.stat()
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError:
            pass
    return BookFile(
        path=path,
        relative_path=relative,
        format=fmt,
        size=size,
        mtime_ns=mtime_ns,
        catalog=MappingProxyType(catalog),
        problem=problem,
    )


def _outside(library: Path, path: Path, relative: str) -> str | None:
    """Why a catalog path is refused: it leads out of the library (as the folder source
    refuses links out of its root), or it is no path at all."""
    try:
        real_library = os.path.realpath(library)
        real = os.path.realpath(path)
    except (OSError, ValueError) as error:  # an embedded NUL byte, a loop of links
        return f"invalid path in the Calibre catalog {relative!r}: {error}"
    if not real.startswith(real_library.rstrip(os.sep) + os.sep):
        return f"path outside the Calibre library: {relative!r}"
    return None


def _rows(
    db: sqlite3.Connection, tables: set[str], needs: tuple[str, ...], sql: str
) -> list[tuple[Any, ...]]:
    """The query's rows, or none when the database lacks an optional table it reads."""
    missing = [table for table in needs if table not in tables]
    if missing:
        log.warning("calibre: no table %s; that metadata is left empty", ", ".join(missing))
        return []
    return db.execute(sql).fetchall()


def _many(
    db: sqlite3.Connection, tables: set[str], needs: tuple[str, ...], sql: str
) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for book, value in _rows(db, tables, needs, sql):
        found[book].append(value)
    return found


def _one(
    db: sqlite3.Connection, tables: set[str], needs: tuple[str, ...], sql: str
) -> dict[int, str]:
    return {book: value for book, value in _rows(db, tables, needs, sql)}


def _year(pubdate: str | None) -> int | None:
    try:
        year = int(str(pubdate)[:4])
    except ValueError:
        return None
    return year if year > _UNDEFINED_YEAR else None
