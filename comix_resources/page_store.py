"""Page images of a collection in the lake, extracted once per book and reused by content hash.

``pages/<book_id>/`` holds the images and ``manifest.json`` with their rows. A book is written
into a staging folder that is renamed into place when complete, so readers never see half a
book; a book whose manifest exists (for the same extraction settings) is not extracted again. A
run killed mid-book leaves only a staging folder, which the next run replaces.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import polars as pl

from comix_resources.errors import BookError, describe_failure
from comix_resources.fingerprints import book_sha256
from comix_resources.ids import page_id, safe_text, sha256_bytes
from comix_resources.lake import Lake
from comix_resources.pages import ExtractionLimits, PageImage, iter_pages
from comix_resources.tables import PAGES

log = logging.getLogger(__name__)

PAGES_SCHEMA = PAGES.schema
MANIFEST = "manifest.json"
# A landscape page at least this much wider than tall is a double-page spread.
SPREAD_ASPECT = 1.15
PAGE_WRITERS = 2
MAX_PAGES_IN_FLIGHT = 8
# Staging folders this old belong to a killed run, not to one still writing.
STALE_STAGING_S = 3600


def extraction_signature(limits: ExtractionLimits) -> str:
    """Settings that change the extracted bytes; a manifest made with others is stale."""
    return hashlib.sha256(json.dumps(asdict(limits), sort_keys=True).encode()).hexdigest()[:12]


def page_row(
    lake: Lake, staging_dir: str, book_dir: str, book_id: str, page: PageImage
) -> dict[str, object]:
    """The page's row; its image is written into ``staging_dir``, its path names ``book_dir``."""
    row: dict[str, object] = {
        "page_id": page_id(book_id, page.index),
        "book_id": book_id,
        "page_index": page.index,
        "path": None,
        "width": page.width or None,
        "height": page.height or None,
        "format": page.ext or None,
        "bytes": None,
        "sha256": None,
        "is_spread": bool(page.width and page.height and page.width > SPREAD_ASPECT * page.height),
        "source_name": safe_text(page.source_name),
        "rendered": page.rendered,
        "status": "error" if page.error else "ok",
        "error": page.error,
    }
    if page.data is not None and page.error is None:
        name = f"{page.index:04d}.{page.ext}"
        lake.write_bytes(f"{staging_dir}/{name}", page.data, atomic=False)
        row.update(
            path=lake.relative(f"{book_dir}/{name}"),
            bytes=len(page.data),
            sha256=sha256_bytes(page.data),
        )
    return row


def extract_book(
    lake: Lake,
    pages_dir: str,
    book_id: str,
    book_path: Path,
    limits: ExtractionLimits,
    sha256: str | None = None,
    page_files: Sequence[str] = (),
) -> tuple[list[dict[str, object]], bool]:
    """Rows of one book's pages and whether they were reused from an earlier extraction.

    ``page_files``: the book is these files of ``book_path.parent`` (loose pages grouped by
    their names; ``book_path`` names the book).

    ``sha256`` is the file's digest as the books step read it: the file is hashed again before
    its pages are taken (and its size, mtime and inode compared after), so pages never land
    under the id of other bytes; an extraction record is reused only for the same digest and
    settings. The re-hash costs about 0.66 s per 327 MB book (``comix bench bounded``).

    Raises BookError when the book cannot be extracted, whatever the underlying exception
    (its type is kept in the message); errors of the lake itself (a full disk) propagate.
    """
    book_dir = f"{pages_dir}/{book_id}"
    manifest = _manifest(lake, f"{book_dir}/{MANIFEST}")
    signature = extraction_signature(limits)
    if manifest.get("signature") == signature and manifest.get("sha256") == sha256:
        return manifest["pages"], True
    with _reading(book_path):
        before = _file_state(book_path, page_files)
        actual = book_sha256(book_path, page_files) if sha256 is not None else None
        if actual != sha256:
            raise BookError(
                f"file changed since the books step (sha256 now {actual[:16]}..., catalogued"
                f" {sha256[:16]}...): materialize books again"
            )
    with lake.staging_dir(book_dir) as staging:
        pages = _read_pages(book_path, limits, page_files)
        rows = _write_pages(lake, staging, book_dir, book_id, pages)
        with _reading(book_path):
            if _file_state(book_path, page_files) != before:
                raise BookError(
                    "file changed while its pages were extracted: materialize books again"
                )
        manifest = {"book_id": book_id, "sha256": sha256, "signature": signature, "pages": rows}
        lake.write_json(f"{staging}/{MANIFEST}", manifest)
    return rows, False


def _manifest(lake: Lake, path: str) -> dict:
    """The saved extraction record, or {} when there is none or it cannot be read."""
    try:
        return lake.read_json(path) if lake.exists(path) else {}
    except (OSError, ValueError):
        return {}  # a damaged record is extracted again, not trusted


@contextmanager
def _reading(book_path: Path) -> Iterator[None]:
    """Whatever goes wrong while reading the book is the book's error."""
    try:
        yield
    except BookError:
        raise
    except Exception as error:
        log.warning("unexpected error reading %s", safe_text(str(book_path)), exc_info=True)
        raise BookError(describe_failure(error)) from error


def _read_pages(
    book_path: Path, limits: ExtractionLimits, page_files: Sequence[str]
) -> Iterator[PageImage]:
    with _reading(book_path):
        yield from iter_pages(book_path, limits, page_files)


def _file_state(path: Path, page_files: Sequence[str] = ()) -> tuple[tuple[int, int, int], ...]:
    paths = [path.parent / name for name in page_files] if page_files else [path]
    return tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in map(os.stat, paths))


def _write_pages(
    lake: Lake, staging_dir: str, book_dir: str, book_id: str, pages: Iterator[PageImage]
) -> list[dict[str, object]]:
    """Hash and write pages on worker threads while the archive is read on this one.

    hashlib and file writes release the GIL, so this overlaps them with decompression; at most
    ``MAX_PAGES_IN_FLIGHT`` pages wait in memory, however large the book.
    """
    rows: list[dict[str, object]] = []
    with ThreadPoolExecutor(max_workers=PAGE_WRITERS) as pool:
        pending: deque[Future[dict[str, object]]] = deque()
        for page in pages:
            pending.append(pool.submit(page_row, lake, staging_dir, book_dir, book_id, page))
            if len(pending) >= MAX_PAGES_IN_FLIGHT:
                rows.append(pending.popleft().result())
        rows.extend(future.result() for future in pending)
    return rows


def extract_collection(
    lake: Lake,
    pages_dir: str,
    books: Iterable[Sequence],
    limits: ExtractionLimits,
    on_book: Callable[[str, bool], None] | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """The pages table of a collection, and the books that failed at extraction with reasons.

    ``books`` are ``(book_id, path, sha256)``, plus ``page_files`` for loose pages (the books
    table's ``BookToExtract``). Each book is a boundary: any exception while reading it (not
    only the expected ones) becomes that book's failure, and the collection goes on; a failure
    to write into the lake is not the book's fault and stops the run.
    """
    rows: list[dict[str, object]] = []
    failures: dict[str, str] = {}
    for book_id, book_path, sha256, *rest in books:
        page_files = rest[0] if rest else ()
        try:
            book_rows, reused = extract_book(
                lake, pages_dir, book_id, book_path, limits, sha256, page_files
            )
        except BookError as error:
            failures[book_id] = str(error)
            continue
        rows.extend(book_rows)
        if on_book is not None:
            on_book(book_id, reused)
    lake.remove_stale_temporaries(pages_dir, older_than_s=STALE_STAGING_S)
    frame = pl.DataFrame(rows, schema=PAGES_SCHEMA, orient="row")
    return frame.sort("book_id", "page_index"), failures
