"""The books table of one collection: identity, container, metadata and a status per file.

A file that cannot be read still gets a row, with ``status="error"`` and the reason, so one bad
file never stops its collection and the books check can report the failure rate.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import polars as pl

from comix_resources.errors import BookError, describe_failure
from comix_resources.fingerprints import FingerprintCache
from comix_resources.ids import book_id_from_sha256, safe_text, short_hash
from comix_resources.pages import ExtractionLimits, inspect_book
from comix_resources.sources import (
    BookFile,
    Collection,
    ComicMetadata,
    metadata_from_name,
    read_comic_metadata,
)
from comix_resources.tables import BOOKS

log = logging.getLogger(__name__)

BOOKS_SCHEMA = BOOKS.schema
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_DUPLICATE = "duplicate"
ORIGIN_APP_MANIFEST = "manifest.json"


def catalog_book(
    source: str,
    collection: Collection,
    book: BookFile,
    fingerprints: FingerprintCache,
    limits: ExtractionLimits,
) -> dict[str, object]:
    """One row of the books table. Never raises for a bad file: the reason goes to ``error``.

    This is the book's boundary: an unexpected exception (a library's own error type, a value
    the table cannot hold) becomes the row's error with its type, like the expected ones.
    """
    base: dict[str, object] = dict.fromkeys(BOOKS_SCHEMA)
    base.update(
        source=source,
        collection=collection.key,
        path=safe_text(str(book.path)),
        raw_path=os.fsencode(book.path),
        relative_path=safe_text(book.relative_path),
        format=book.format,
        grouping=book.grouping,
        page_files=[os.fsencode(name) for name in book.page_files] or None,
        bytes=book.size,
        calibre_id=book.catalog.get("calibre_id"),
        authors=[],
        status=STATUS_ERROR,
    )
    found: dict[str, object] = {}
    try:
        if book.problem:
            raise BookError(book.problem)
        if not (book.path.parent if book.page_files else book.path).exists():
            raise BookError("file missing (listed in the catalog but not on disk)")
        sha256 = fingerprints.sha256(book.path, book.size, book.mtime_ns, book.page_files)
        found.update(sha256=sha256, book_id=book_id_from_sha256(sha256))
        inspection = inspect_book(book.path, limits, book.page_files)
        metadata = read_comic_metadata(book)
        if metadata.is_empty and inspection.title:
            named = metadata_from_name(inspection.title, title=inspection.title)
            metadata = dataclasses.replace(named, origin=ORIGIN_APP_MANIFEST)
        row = {
            **base,
            **found,
            "container": inspection.container,
            "page_count": inspection.page_count,
            "title": metadata.title,
            "series": metadata.series,
            "issue": metadata.issue,
            "publisher": metadata.publisher,
            "year": metadata.year,
            "authors": list(metadata.authors),
            "metadata_origin": metadata.origin,
            "book_uuid": inspection.book_uuid,
            "is_rtl": inspection.is_rtl if inspection.is_rtl is not None else metadata.is_rtl,
            "declared_pages": _declared_pages(metadata) or None,
            "status": STATUS_OK,
        }
        pl.DataFrame([row], schema=BOOKS_SCHEMA, orient="row")  # the table can hold it
        return row
    except OSError as error:
        reason = f"cannot read file: {error.strerror or error}"
    except Exception as error:
        if not isinstance(error, BookError):
            log.warning("%s: unexpected error reading %s", source, base["path"], exc_info=True)
        reason = describe_failure(error)
    return {
        **base,
        **found,
        "book_id": found.get("book_id") or _fallback_book_id(book),
        "error": reason,
    }


def _declared_pages(metadata: ComicMetadata) -> list[dict[str, object]]:
    return [
        {"page_index": page.index, "type": page.type, "double_page": page.double_page}
        for page in metadata.pages
    ]


def _fallback_book_id(book: BookFile) -> str:
    # Unreadable files have no content hash; their id only has to be unique within the table.
    return f"error-{short_hash(book.relative_path, 10)}"


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


# How a book that the books step listed but the pages step could not extract says why.
EXTRACTION_FAILED = "pages could not be extracted: "


def mark_extraction_failures(books: pl.DataFrame, failures: Mapping[str, str]) -> pl.DataFrame:
    """The books table with the books whose pages could not be extracted turned to ``error``
    (a corrupt stream, a bad CRC, a bomb found while reading): listing them was not enough."""
    if not failures:
        return books
    failed = pl.DataFrame(
        {"book_id": list(failures), "extraction_error": list(failures.values())},
        schema={"book_id": pl.String, "extraction_error": pl.String},
    )
    is_failed = pl.col("extraction_error").is_not_null() & (pl.col("status") == STATUS_OK)
    return (
        books.join(failed, on="book_id", how="left", maintain_order="left")
        .with_columns(
            status=pl.when(is_failed).then(pl.lit(STATUS_ERROR)).otherwise(pl.col("status")),
            error=pl.when(is_failed)
            .then(pl.lit(EXTRACTION_FAILED) + pl.col("extraction_error"))
            .otherwise(pl.col("error")),
        )
        .drop("extraction_error")
    )


class BookToExtract(NamedTuple):
    book_id: str
    path: Path
    sha256: str  # what the books step read: extraction checks the file still has these bytes
    page_files: tuple[str, ...] = ()  # loose pages grouped by name: the files of path.parent


def book_paths_to_extract(books: pl.DataFrame) -> list[BookToExtract]:
    ok = books.filter(pl.col("status") == STATUS_OK)
    return [
        BookToExtract(
            row["book_id"],
            Path(os.fsdecode(row["raw_path"])),
            row["sha256"],
            tuple(os.fsdecode(name) for name in row["page_files"] or ()),
        )
        for row in ok.iter_rows(named=True)
    ]


def declared_reading_directions(books: pl.DataFrame) -> dict[str, bool]:
    """``book_id`` -> right to left, for the books that declare a direction themselves (an app
    manifest's ``is_rtl``, ComicInfo ``Manga``, an EPUB spine): each overrides what
    COMIX_RTL_COLLECTIONS says for its collection."""
    declared = books.filter(pl.col("is_rtl").is_not_null())
    return dict(zip(declared["book_id"], declared["is_rtl"], strict=True))


def with_declared_spreads(pages: pl.DataFrame, books: pl.DataFrame) -> pl.DataFrame:
    """``pages`` with ``is_spread`` also true where the book's ComicInfo says ``DoublePage``
    (a spread the aspect rule misses: a scan cut at the fold, a square double page). A
    declared ``DoublePage="False"`` is the taggers' default, so it never unmarks a page."""
    declared = (
        books.select("book_id", "declared_pages")
        .explode("declared_pages")
        .unnest("declared_pages")
        .filter(pl.col("double_page").fill_null(False))
        .select("book_id", pl.col("page_index").cast(pl.Int32), declared=pl.lit(True))
        .unique()
    )
    if not declared.height:
        return pages
    return (
        pages.join(declared, on=["book_id", "page_index"], how="left", maintain_order="left")
        .with_columns(is_spread=pl.col("is_spread") | pl.col("declared").fill_null(False))
        .drop("declared")
    )
