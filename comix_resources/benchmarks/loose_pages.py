"""Listing a folder of loose pages from thousands of books: ours against a bare directory scan.

Run: ``comix bench loose-pages [--pages 805000]``. One collection folder holds ``pages`` page
files (empty; with ``books_table`` each holds its name, so books differ) of books of
``pages_per_book`` pages, named the three ways converters name them
(``<book>_<book> - p000.jpg.png``, ``<Book>_<N>.jpg``, ``<Book> <NN>.jpg``), created in an
interleaved order. The baseline is ``os.scandir`` with a ``stat`` of every entry: what any
listing of that folder pays (the sizes and mtimes are needed for change detection). Ours is
``FolderTreeSource.collection``: the scan, the name pattern on every file, the grouping and
the ``BookFile`` rows. Best of ``repeats`` each, alternating, in the same process; the books
table (hashes, listing each book, names parsed) is timed once with ``books_table``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from comix_resources.sources import FolderTreeSource

COLLECTION = "Corpus"


def page_file_names(pages: int, pages_per_book: int) -> list[str]:
    """``pages`` file names of ``pages // pages_per_book`` books, interleaved book by book."""
    books = max(1, pages // pages_per_book)
    names = []
    for page in range(pages_per_book):
        for book in range(books):
            if len(names) == pages:
                return names
            style = book % 3
            if style == 0:
                names.append(f"Series {book:05d}_Series {book:05d} - p{page:03d}.jpg.png")
            elif style == 1:
                names.append(f"Other_Title_{book:05d}_{page + 1}.jpg")
            else:
                names.append(f"Third Title {book:05d} {page + 1:02d}.jpg")
    return names


def _bare_listing(folder: Path) -> int:
    count = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            entry.stat()
            count += 1
    return count


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_loose_pages_benchmark(
    workdir: Path,
    pages: int = 805_000,
    pages_per_book: int = 40,
    repeats: int = 3,
    books_table: bool = False,
) -> list[dict[str, Any]]:
    root = Path(workdir) / "amazon"
    folder = root / COLLECTION
    folder.mkdir(parents=True, exist_ok=True)
    names = page_file_names(pages, pages_per_book)
    started = time.perf_counter()
    for name in names:
        with open(folder / name, "wb") as handle:
            if books_table:  # distinct bytes, or every book would be a copy of the first
                handle.write(name.encode())
    created = time.perf_counter() - started
    source = FolderTreeSource("amazon", root)
    key = source.collections()[0].key  # warms the directory cache for both sides alike

    best_bare = best_ours = float("inf")
    books = 0
    rss_before = _rss_mib()
    for _ in range(repeats):
        started = time.perf_counter()
        listed = _bare_listing(folder)
        best_bare = min(best_bare, time.perf_counter() - started)
        started = time.perf_counter()
        collection = source.collection(key)
        best_ours = min(best_ours, time.perf_counter() - started)
        books = len(collection.books)
    rss_after = _rss_mib()
    largest = max(len(book.page_files) for book in collection.books)
    rows = [
        {
            "case": "bare os.scandir + stat (baseline)",
            "pages": listed,
            "books": None,
            "seconds": round(best_bare, 3),
            "pages_per_s": round(listed / best_bare),
            "ratio_vs_baseline": 1.0,
        },
        {
            "case": "FolderTreeSource.collection (ours)",
            "pages": sum(len(book.page_files) for book in collection.books),
            "books": books,
            "seconds": round(best_ours, 3),
            "pages_per_s": round(pages / best_ours),
            "ratio_vs_baseline": round(best_bare / best_ours, 3),  # >1: faster than the scan
            "largest_book_pages": largest,
            "peak_rss_growth_mib": round(rss_after - rss_before, 1),
        },
    ]
    if books_table:
        rows.append(_books_table_row(collection, workdir, pages))
    rows.append({"case": f"(creating the {pages:,} files took {created:.1f} s)"})
    return rows


def _books_table_row(collection: Any, workdir: Path, pages: int) -> dict[str, Any]:
    from comix_resources.books import build_books_table
    from comix_resources.fingerprints import FingerprintCache
    from comix_resources.pages import ExtractionLimits

    cache = FingerprintCache(Path(workdir) / "fingerprints.sqlite")
    started = time.perf_counter()
    table = build_books_table("amazon", collection, cache, ExtractionLimits())
    seconds = time.perf_counter() - started
    return {
        "case": "books table: hash, list and name every book (ours, once)",
        "pages": int(table["page_count"].sum()),
        "books": table.height,
        "seconds": round(seconds, 3),
        "pages_per_s": round(pages / seconds),
        "books_ok": int((table["status"] == "ok").sum()),
    }
