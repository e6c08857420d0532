"""Data model shared by every source: books, collections and the source protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

EMPTY_CATALOG: Mapping[str, Any] = MappingProxyType({})

# How a source made a book out of what is on disk (the books table's ``grouping``).
GROUPING_FILE = "file"  # one comic file (or a Calibre format)
GROUPING_FOLDER = "folder"  # every image directly in a folder
GROUPING_MANIFEST = "manifest"  # an unpacked app download: the pages its manifest names
GROUPING_PAGE_NAMES = "page_names"  # loose pages of a folder, grouped by their names
GROUPINGS = (GROUPING_FILE, GROUPING_FOLDER, GROUPING_MANIFEST, GROUPING_PAGE_NAMES)


@dataclass(frozen=True)
class BookFile:
    """One book as a source lists it; nothing here reads the file's content."""

    # Absolute path of the comic file or image folder; for pages grouped by their names, the
    # book's name inside their folder (``<folder>/<book>``, not a file on disk).
    path: Path
    relative_path: str  # relative to the source root, posix separators
    format: str  # declared format: pdf, cbz, cbr, cb7, cbt, epub, folder, pages
    size: int  # bytes; sum of the images for a folder; 0 for a file missing on disk
    mtime_ns: int  # newest image for a folder; 0 for a file missing on disk
    # What the catalog says (Calibre); {} for folder trees. Left out of the hash because a
    # mapping is not hashable; it still takes part in equality.
    catalog: Mapping[str, Any] = field(default_factory=lambda: EMPTY_CATALOG, hash=False)
    # Why the source refuses to read this book (a Calibre path outside the library); the
    # books table reports it as the book's error and nothing opens the file.
    problem: str | None = None
    grouping: str = GROUPING_FILE
    # Pages grouped by their names: the files of ``path.parent``, in page order; else ().
    page_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Collection:
    key: str  # partition key, `[a-z0-9_-]`, from comix_resources.ids.partition_keys
    name: str  # display name, valid UTF-8 (comix_resources.ids.safe_text of the folder name)
    books: tuple[BookFile, ...]  # sorted by relative_path


@runtime_checkable
class ComicSource(Protocol):
    name: str

    def collections(self) -> list[Collection]:
        """All collections, sorted by key."""
        ...

    def collection(self, key: str) -> Collection:
        """One collection by partition key; KeyError if unknown."""
        ...


def unknown_collection(source: str, key: str, known: list[str]) -> KeyError:
    preview = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
    return KeyError(
        f"{source}: no collection with partition key {key!r} "
        f"({len(known)} known: {preview or 'none'})"
    )


class SourceUnavailable(Exception):
    """A source that cannot be listed right now (a broken or locked catalog). Its discovery
    fails with this message and is tried again later; other sources are not affected."""
