"""What changed in a source since last time: shared by the sensors and ``comix run``.

Change detection goes from cheap to expensive: a collection whose books' paths, sizes and mtimes
are unchanged is skipped without reading a byte; otherwise its content digest (relative paths and
sha256 of every book, from the fingerprint cache, so only changed files are read) decides. A file
that was merely touched keeps its content digest, so nothing re-runs for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from comix_resources.fingerprints import FingerprintCache
from comix_resources.ids import sha256_text
from comix_resources.sources import Collection, ComicSource


@dataclass(frozen=True)
class CollectionState:
    stat: str
    content: str | None


@dataclass(frozen=True)
class CollectionChange:
    key: str
    name: str
    is_new: bool
    state: CollectionState


def stat_digest(collection: Collection) -> str:
    lines = [f"{b.relative_path}\t{b.size}\t{b.mtime_ns}" for b in collection.books]
    return sha256_text("\n".join(lines))[:16]


def content_digest(
    collection: Collection, fingerprints: FingerprintCache, cached_only: bool = False
) -> str | None:
    """Digest of paths and bytes; with ``cached_only``, None unless every book is already hashed."""
    lines = []
    for book in collection.books:
        if cached_only:
            content = fingerprints.cached_sha256(book.path, book.size, book.mtime_ns)
            if content is None:
                return None
        else:
            try:
                content = fingerprints.sha256(book.path, book.size, book.mtime_ns, book.page_files)
            except OSError:
                content = f"unreadable:{book.size}:{book.mtime_ns}"
        lines.append(f"{book.relative_path}\t{content}")
    return sha256_text("\n".join(lines))[:16]


def detect_changes(
    source: ComicSource,
    previous: dict[str, CollectionState],
    fingerprints: FingerprintCache,
) -> tuple[list[CollectionChange], dict[str, CollectionState]]:
    """Collections that are new or whose content changed, and the states to remember.

    A new collection is not hashed here (its first run hashes it); its content digest is filled
    in from the cache on a later call, once the run has hashed every book.
    """
    changes: list[CollectionChange] = []
    states: dict[str, CollectionState] = {}
    for collection in source.collections():
        stat = stat_digest(collection)
        known = previous.get(collection.key)
        if known is None:
            state = CollectionState(stat=stat, content=None)
            changes.append(CollectionChange(collection.key, collection.name, True, state))
        elif known.stat == stat:
            content = known.content or content_digest(collection, fingerprints, cached_only=True)
            state = CollectionState(stat=stat, content=content)
        else:
            content = content_digest(collection, fingerprints)
            state = CollectionState(stat=stat, content=content)
            if known.content is None or known.content != content:
                changes.append(CollectionChange(collection.key, collection.name, False, state))
        states[collection.key] = state
    return changes, states
