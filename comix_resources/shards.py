"""Partitions that fit a worker: a large collection is split into stable shards by book id.

A collection of at most ``target`` pages (``COMIX_SHARD_PAGES``, default 3,000: an hour or two
of one worker's OCR) is one partition, keyed by the collection's slug. A larger one becomes
``ceil(pages / target)`` shards, each the books whose ``book_id`` (the first hex digits of the
file's sha256) falls in a range of its first four hex digits; ids are uniform, so the shards
are about equally large. A shard's key is the collection's slug, ``--`` (which no slug holds)
and its range: ``golden-age--0000-0787``. So a 100,000-page collection is 34 runs that run in
parallel and rerun alone, and its page types, embeddings and search entries still belong to
the collection (its tables keep the collection's key in their ``collection`` column).

Stable: the same books give the same shards wherever the plan is made (the sensor, ``comix
run``), and a plan is kept while it fits: a shard is halved only when it grows past
``SPLIT_AT`` times the target, so new books change one shard, not all of them, and a
collection is split only when it grows past ``SPLIT_AT`` times the target. Shards are never
merged on their own. A book lives in the shard of its content, so two copies of one file
always meet in the same shard, where the books table marks the second a duplicate; a file
that cannot be read (no content hash) goes by a hash of its path.

Page images stay in the collection's ``pages/`` folder, shared by its shards (a book's folder
is its id), so a new split re-extracts nothing; a shard's tables live in
``<source>/<collection>/shards/<range>/``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING

from comix_resources.ids import sha256_bytes

if TYPE_CHECKING:  # the lake imports this module for its paths: keep it light
    from comix_resources.fingerprints import FingerprintCache
    from comix_resources.pages import ExtractionLimits
    from comix_resources.sources import BookFile, Collection

SEPARATOR = "--"
SHARDS_DIR = "shards"
DIGITS = 4  # ranges over the first four hex digits of a book id
SPACE = 16**DIGITS
DEFAULT_TARGET_PAGES = 3000
# A partition is split only beyond this multiple of the target: a plan that fits is kept.
SPLIT_AT = 1.5


@dataclass(frozen=True, order=True)
class PrefixRange:
    """Book ids whose first four hex digits are in ``[low, high]``."""

    low: int
    high: int

    @property
    def label(self) -> str:
        return f"{self.low:0{DIGITS}x}-{self.high:0{DIGITS}x}"

    @property
    def width(self) -> int:
        return self.high - self.low + 1

    def __contains__(self, prefix: int) -> bool:
        return self.low <= prefix <= self.high

    def halves(self) -> tuple[PrefixRange, PrefixRange]:
        middle = self.low + self.width // 2
        return PrefixRange(self.low, middle - 1), PrefixRange(middle, self.high)

    @classmethod
    def parse(cls, label: str) -> PrefixRange:
        low, _, high = label.partition("-")
        try:
            parsed = cls(int(low, 16), int(high, 16))
        except ValueError:
            parsed = None
        if (
            parsed is None
            or len(low) != DIGITS
            or len(high) != DIGITS
            or not 0 <= parsed.low <= parsed.high < SPACE
        ):
            raise ValueError(f"not a shard range: {label!r} (expected e.g. 0000-0787)")
        return parsed


FULL_RANGE = PrefixRange(0, SPACE - 1)


def equal_ranges(count: int) -> list[PrefixRange]:
    """``count`` ranges of (nearly) equal width covering every prefix."""
    bounds = [round(i * SPACE / count) for i in range(count + 1)]
    return [PrefixRange(bounds[i], bounds[i + 1] - 1) for i in range(count)]


def shard_key(collection_key: str, prefixes: PrefixRange) -> str:
    return f"{collection_key}{SEPARATOR}{prefixes.label}"


def split_key(partition_key: str) -> tuple[str, PrefixRange | None]:
    """``(collection key, range)`` of a shard key; ``(key, None)`` for a whole collection."""
    collection, separator, label = partition_key.rpartition(SEPARATOR)
    if not separator:
        return partition_key, None
    return collection, PrefixRange.parse(label)


def collection_key(partition_key: str) -> str:
    """The collection a partition belongs to (itself, for a collection that is not split)."""
    return split_key(partition_key)[0]


def is_shard(partition_key: str) -> bool:
    return SEPARATOR in partition_key


def lake_folder(partition_key: str) -> tuple[str, ...]:
    """Where a partition's tables live below ``<source>/``: the collection's folder, or its
    ``shards/<range>/`` folder."""
    collection, prefixes = split_key(partition_key)
    return (collection,) if prefixes is None else (collection, SHARDS_DIR, prefixes.label)


# Which shard a book belongs to -----------------------------------------------------------------
def book_prefix(book: BookFile, fingerprints: FingerprintCache) -> int:
    """The first four hex digits of the book's content hash (its ``book_id``), or of its path's
    hash when the file cannot be read."""
    try:
        digest = fingerprints.sha256(book.path, book.size, book.mtime_ns)
    except OSError:
        digest = sha256_bytes(book.relative_path.encode())
    return int(digest[:DIGITS], 16)


def shard_of(
    collection: Collection, prefixes: PrefixRange | None, fingerprints: FingerprintCache
) -> Collection:
    """The collection restricted to one shard's books (the whole collection for None)."""
    if prefixes is None:
        return collection
    books = tuple(b for b in collection.books if book_prefix(b, fingerprints) in prefixes)
    return replace(collection, books=books)


def book_pages(book: BookFile, fingerprints: FingerprintCache, limits: ExtractionLimits) -> int:
    """The book's page count, remembered by file identity; 0 for a book that cannot be read
    (its error is the books table's to report)."""
    from comix_resources.errors import BookError
    from comix_resources.pages import inspect_book

    def count() -> int:
        try:
            return inspect_book(book.path, limits).page_count
        except (BookError, OSError):
            return 0

    if not book.path.exists():
        return 0
    return fingerprints.page_count(book.path, book.size, book.mtime_ns, count)


# The plan ---------------------------------------------------------------------------------------
class PlanningTimeout(RuntimeError):
    """Planning ran out of its time budget; what it hashed is cached for the next try."""


@dataclass(frozen=True)
class PlannedPartition:
    key: str
    collection: Collection  # the shard's books (all of them for a whole collection)
    pages: int


def plan_ranges(
    prefix_pages: Sequence[tuple[int, int]],
    target: int,
    existing: Sequence[PrefixRange] | None,
    was_whole: bool,
) -> list[PrefixRange] | None:
    """Shard ranges for books given as ``(prefix, pages)``; None: the collection stays whole.

    ``existing`` is the collection's current plan (its shards' ranges), ``was_whole`` whether
    it is one partition now; see the module docstring for the rules.
    """
    total = sum(pages for _, pages in prefix_pages)
    covers = bool(existing) and _covers_everything(existing)
    if covers:
        ranges = sorted(existing)  # type: ignore[arg-type]
    elif total <= target * (SPLIT_AT if was_whole else 1):
        return None
    else:
        ranges = equal_ranges(math.ceil(total / target))
    return _split_overflowing(ranges, prefix_pages, target)


def _covers_everything(ranges: Sequence[PrefixRange]) -> bool:
    ordered = sorted(ranges)
    if ordered[0].low != 0 or ordered[-1].high != SPACE - 1:
        return False
    return all(a.high + 1 == b.low for a, b in pairwise(ordered))


def _split_overflowing(
    ranges: list[PrefixRange], prefix_pages: Sequence[tuple[int, int]], target: int
) -> list[PrefixRange]:
    done: list[PrefixRange] = []
    pending = list(ranges)
    while pending:
        current = pending.pop()
        inside = [(p, n) for p, n in prefix_pages if p in current]
        pages = sum(n for _, n in inside)
        distinct = len({p for p, _ in inside})
        if pages > target * SPLIT_AT and distinct > 1 and current.width > 1:
            pending.extend(current.halves())
        else:
            done.append(current)
    return sorted(done)


def plan_partitions(
    collection: Collection,
    fingerprints: FingerprintCache,
    target: int = DEFAULT_TARGET_PAGES,
    current_keys: Iterable[str] = (),
    limits: ExtractionLimits | None = None,
    deadline: float | None = None,
) -> list[PlannedPartition]:
    """The partitions of ``collection``: itself, or its shards.

    ``current_keys`` are the partition keys the collection has now (from the instance), so a
    plan that fits is kept. Page counts and content hashes are cached by file identity; with a
    ``deadline`` (``time.monotonic()``), ``PlanningTimeout`` is raised when it passes, and a
    later call goes on from where this one got.
    """
    from comix_resources.pages import ExtractionLimits

    limits = limits or ExtractionLimits()
    mine = [k for k in current_keys if collection_key(k) == collection.key]
    existing = [prefixes for k in mine if (prefixes := split_key(k)[1]) is not None]
    pages = []
    for book in collection.books:
        _check(deadline, collection)
        pages.append(book_pages(book, fingerprints, limits))
    total = sum(pages)
    if not existing and total <= target * (SPLIT_AT if collection.key in mine else 1):
        return [PlannedPartition(collection.key, collection, total)]
    prefixes = []
    for book in collection.books:
        _check(deadline, collection)
        prefixes.append(book_prefix(book, fingerprints))
    prefix_pages = list(zip(prefixes, pages, strict=True))
    ranges = plan_ranges(prefix_pages, target, existing, was_whole=collection.key in mine)
    if ranges is None:
        return [PlannedPartition(collection.key, collection, total)]
    planned = []
    for shard in ranges:
        books = tuple(b for b, p in zip(collection.books, prefixes, strict=True) if p in shard)
        shard_pages = sum(n for (p, n) in prefix_pages if p in shard)
        planned.append(
            PlannedPartition(
                shard_key(collection.key, shard), replace(collection, books=books), shard_pages
            )
        )
    return planned


def _check(deadline: float | None, collection: Collection) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise PlanningTimeout(
            f"{collection.key}: not every book counted and hashed yet ({len(collection.books)} "
            "books); planning goes on next time from the cache"
        )
