"""Content hashes of source files, cached by (path, size, mtime) so discovery stays cheap.

A file is hashed again only when its size or mtime changed; a touched but unchanged file keeps its
digest, so the sensors do not re-run partitions for it. The cache is a SQLite file that the
sensors (daemon process) and the runs (their own processes) share safely.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from comix_resources.ids import raw_bytes, sha256_file, sha256_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""


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


def _key(path: Path) -> str | bytes:
    """The cache key of a path: its text, or its exact bytes when the name is not UTF-8
    (SQLite stores text as UTF-8; a BLOB never equals a TEXT, so keys cannot collide)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return raw_bytes(text)
    return text


class FingerprintCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(_SCHEMA)

    def close(self) -> None:
        self._connection.close()

    def cached_sha256(self, path: Path, size: int, mtime_ns: int) -> str | None:
        """The digest if this exact (size, mtime) was hashed before, without reading the file."""
        row = self._connection.execute(
            "SELECT size, mtime_ns, sha256 FROM fingerprints WHERE path = ?", (_key(path),)
        ).fetchone()
        if row is not None and row[0] == size and row[1] == mtime_ns:
            return row[2]
        return None

    def sha256(self, path: Path, size: int, mtime_ns: int, page_files: Sequence[str] = ()) -> str:
        """``book_sha256``, read again only when the size or mtime (of a group of pages: their
        sum and newest) changed."""
        key = _key(path)
        if (cached := self.cached_sha256(path, size, mtime_ns)) is not None:
            return cached
        digest = book_sha256(path, page_files)
        self._connection.execute(
            "INSERT OR REPLACE INTO fingerprints (path, size, mtime_ns, sha256) "
            "VALUES (?, ?, ?, ?)",
            (key, size, mtime_ns, digest),
        )
        return digest
