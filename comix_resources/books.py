"""The books table of one collection: identity, container, metadata and a status per file.

A file that cannot be read still gets a row, with ``status="error"`` and the reason, so one bad
file never stops its collection and the books check can report the failure rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from comix_resources.errors import BookError
from comix_resources.fingerprints import FingerprintCache
from comix_resources.ids import book_id_from_sha256, short_hash
from comix_resources.pages import ExtractionLimits, inspect_book
from comix_resources.sources import BookFile, Collection, read_comic_metadata
from comix_resources.tables import BOOKS

BOOKS_SCHEMA = BOOKS.schema
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_DUPLICATE = "duplicate"


def catalog_book(
    source: str,
    collection: Collection,
    book: BookFile,
    fingerprints: FingerprintCache,
    limits: ExtractionLimits,
) -> dict[str, object]:
    """One row of the books table. Never raises for a bad file: the reason goes to ``error``."""
    row: dict[str, object] = dict.fromkeys(BOOKS_SCHEMA)
    row.update(
        source=source,
        collection=collection.key,
        path=str(book.path),
        relative_path=book.relative_path,
        format=book.format,
        bytes=book.size,
        calibre_id=book.catalog.get("calibre_id"),
        authors=[],
        status=STATUS_ERROR,
    )
    try:
        if not book.path.exists():
            raise BookError("file missing (listed in the catalog but not on disk)")
        sha256 = fingerprints.sha256(book.path, book.size, book.mtime_ns)
        row.update(sha256=sha256, book_id=book_id_from_sha256(sha256))
        inspection = inspect_book(book.path, limits)
        row.update(container=inspection.container, page_count=inspection.page_count)
    except BookError as error:
        row["error"] = str(error)
        return row
    except OSError as error:
        row["error"] = f"cannot read file: {error.strerror or error}"
        return row
    metadata = read_comic_metadata(book)
    row.update(
        title=metadata.title,
        series=metadata.series,
        issue=metadata.issue,
        publisher=metadata.publisher,
        year=metadata.year,
        authors=list(metadata.authors),
        metadata_origin=metadata.origin,
        status=STATUS_OK,
    )
    return row


def _fallback_book_id(row: dict[str, object]) -> str:
    # Unreadable files have no content hash; their id only has to be unique within the table.
    return f"error-{short_hash(str(row['relative_path']), 10)}"


def build_books_table(
    source: str, collection: Collection, fingerprints: FingerprintCache, limits: ExtractionLimits
) -> pl.DataFrame:
    return books_frame(
        [catalog_book(source, collection, book, fingerprints, limits) for book in collection.books]
    )


def books_frame(rows: Sequence[dict[str, object]]) -> pl.DataFrame:
    """Rows sorted by relative path; a second copy of the same bytes is marked ``duplicate``."""
    first_path_by_id: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: str(r["relative_path"])):
        if row["book_id"] is None:
            row["book_id"] = _fallback_book_id(row)
            continue
        book_id = str(row["book_id"])
        if book_id in first_path_by_id:
            row.update(
                status=STATUS_DUPLICATE,
                error=f"same bytes as {first_path_by_id[book_id]}; its pages are extracted once",
            )
        else:
            first_path_by_id[book_id] = str(row["relative_path"])
    frame = pl.DataFrame(list(rows), schema=BOOKS_SCHEMA, orient="row")
    return frame.sort("relative_path")


def failed_books(books: pl.DataFrame) -> pl.DataFrame:
    """The unreadable files and why, for the books check."""
    return books.filter(pl.col("status") == STATUS_ERROR).select("relative_path", "format", "error")


def book_paths_to_extract(books: pl.DataFrame) -> list[tuple[str, Path]]:
    ok = books.filter(pl.col("status") == STATUS_OK)
    return [(row["book_id"], Path(row["path"])) for row in ok.iter_rows(named=True)]
