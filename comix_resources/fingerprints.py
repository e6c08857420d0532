"""Content hashes of source files, cached by (path, size, mtime) so discovery stays cheap.

A file is hashed again only when its size or mtime changed; a touched but unchanged file keeps its
digest, so the sensors do not re-run partitions for it. The cache (a SQLite file, or a table of
the database every worker shares: ``comix_resources.cache_store``) is shared safely by the
sensors (daemon process) and the runs (their own processes, on any worker), so a file is hashed
once, not once per process. Page counts, which discovery needs to split a large collection, are
remembered the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from comix_resources.cache_store import CacheTable
from comix_resources.ids import raw_bytes, sha256_file, sha256_text

_FILE = {"size": sa.BigInteger(), "mtime_ns": sa.BigInteger()}


def sha256_folder(folder: Path) -> str:
    """Digest of an image folder: names and bytes of its files, in name order."""
    parts = []
    for child in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        parts.append(f"{child.name}:{sha256_file(child)}")
    return sha256_text("\n".join(parts))


def sha256_pages(folder: Path, page_files: Sequence[str]) -> str:
    """Digest of a book grouped from loose pages: its pages' digests in page order. Names are
    left out, so renaming the files keeps the book's id; reordering or changing a page does
    not."""
    return sha256_text("\n".join(sha256_file(folder / name) for name in page_files))


def book_sha256(path: Path, page_files: Sequence[str] = ()) -> str:
    """The content digest of a book as a source lists it: a file, an image folder, or the
    ``page_files`` of the folder ``path.parent`` (``path`` then names the book, not a file)."""
    if page_files:
        return sha256_pages(path.parent, page_files)
    return sha256_folder(path) if path.is_dir() else sha256_file(path)


def _key(path: Path) -> str:
    """The cache key of a path: its text, or ``bytes:`` and its exact bytes in hex when the
    name is not UTF-8 (SQLite and PostgreSQL both keep text as UTF-8; sources list absolute
    paths, so no real name is spelled ``bytes:...``)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"bytes:{raw_bytes(text).hex()}"
    return text


class FingerprintCache:
    def __init__(self, location: str | os.PathLike[str]) -> None:
        key = {"path": sa.String()}
        self._hashes = CacheTable(location, "fingerprints", key, {**_FILE, "sha256": sa.String()})
        self._pages = CacheTable(location, "page_counts", key, {**_FILE, "pages": sa.Integer()})

    def close(self) -> None:
        self._hashes.close()
        self._pages.close()

    def cached_sha256(self, path: Path, size: int, mtime_ns: int) -> str | None:
        """The digest if this exact (size, mtime) was hashed before, without reading the file."""
        return _current(self._hashes.get(path=_key(path)), size, mtime_ns, "sha256")

    def sha256(self, path: Path, size: int, mtime_ns: int, page_files: Sequence[str] = ()) -> str:
        """``book_sha256``, read again only when the size or mtime (of a group of pages: their
        sum and newest) changed."""
        if (cached := self.cached_sha256(path, size, mtime_ns)) is not None:
            return cached
        digest = book_sha256(path, page_files)
        self._hashes.put(path=_key(path), size=size, mtime_ns=mtime_ns, sha256=digest)
        return digest

    def page_count(self, path: Path, size: int, mtime_ns: int, count: Callable[[], int]) -> int:
        """``count()`` of this file, remembered while its size and mtime stay the same."""
        cached = _current(self._pages.get(path=_key(path)), size, mtime_ns, "pages")
        if cached is not None:
            return cached
        pages = count()
        self._pages.put(path=_key(path), size=size, mtime_ns=mtime_ns, pages=pages)
        return pages


def _current(row: dict | None, size: int, mtime_ns: int, column: str):
    if row is not None and row["size"] == size and row["mtime_ns"] == mtime_ns:
        return row[column]
    return None
