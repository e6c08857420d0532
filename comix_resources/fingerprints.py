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
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from comix_resources.cache_store import CacheTable
from comix_resources.ids import sha256_bytes, sha256_file

_FILE = {"size": sa.BigInteger(), "mtime_ns": sa.BigInteger()}


def sha256_folder(folder: Path) -> str:
    """Digest of an image folder: names and bytes of its files, in name order."""
    parts = []
    for child in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        parts.append(f"{child.name}:{sha256_file(child)}")
    return sha256_bytes("\n".join(parts).encode())


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
        return _current(self._hashes.get(path=str(path)), size, mtime_ns, "sha256")

    def sha256(self, path: Path, size: int, mtime_ns: int) -> str:
        if (cached := self.cached_sha256(path, size, mtime_ns)) is not None:
            return cached
        digest = sha256_folder(path) if path.is_dir() else sha256_file(path)
        self._hashes.put(path=str(path), size=size, mtime_ns=mtime_ns, sha256=digest)
        return digest

    def page_count(self, path: Path, size: int, mtime_ns: int, count: Callable[[], int]) -> int:
        """``count()`` of this file, remembered while its size and mtime stay the same."""
        cached = _current(self._pages.get(path=str(path)), size, mtime_ns, "pages")
        if cached is not None:
            return cached
        pages = count()
        self._pages.put(path=str(path), size=size, mtime_ns=mtime_ns, pages=pages)
        return pages


def _current(row: dict | None, size: int, mtime_ns: int, column: str):
    if row is not None and row["size"] == size and row["mtime_ns"] == mtime_ns:
        return row[column]
    return None
