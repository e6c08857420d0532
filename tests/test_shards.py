"""Shards of large collections: keys, lake places, and plans that are balanced and stable."""

from __future__ import annotations

import io
import random
import time
import zipfile
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image

from comix_resources.fingerprints import FingerprintCache
from comix_resources.ids import partition_keys
from comix_resources.lake import Lake
from comix_resources.shards import (
    FULL_RANGE,
    SPLIT_AT,
    PlanningTimeout,
    PrefixRange,
    book_prefix,
    collection_key,
    equal_ranges,
    plan_partitions,
    plan_ranges,
    shard_key,
    shard_of,
    split_key,
)
from comix_resources.sources.folder_tree import FolderTreeSource
from comix_resources.tables import BOOKS, PAGE_IMAGES, TRAINING_PAGES


def _uniform_books(count: int, pages: int, seed: int = 1) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randrange(FULL_RANGE.width), pages) for _ in range(count)]


def _pages_per_range(books, ranges) -> list[int]:
    return [sum(n for p, n in books if p in r) for r in ranges]


def test_shard_keys_are_slugs_that_name_their_collection() -> None:
    key = shard_key("golden-age", PrefixRange(0x0000, 0x0787))
    assert key == "golden-age--0000-0787"
    assert split_key(key) == ("golden-age", PrefixRange(0, 0x787))
    assert split_key("golden-age") == ("golden-age", None)
    assert collection_key(key) == collection_key("golden-age") == "golden-age"
    # No collection slug holds the separator, whatever its name looks like.
    names = ["A -- B", "a--b", "--x--", "Über--Mänga", "x" * 60 + "--y"]
    assert not any("--" in k for k in partition_keys(names).values())
    with pytest.raises(ValueError, match="not a shard range"):
        split_key("golden-age--00-ff")


def test_a_shard_keeps_its_tables_in_the_collection_and_shares_its_page_images(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    shard = "golden-age--0000-7fff"
    assert (
        BOOKS.path(lake, "amazon", shard)
        == f"{tmp_path}/amazon/golden-age/shards/0000-7fff/books.parquet"
    )
    assert BOOKS.path(lake, "amazon", "golden-age") == f"{tmp_path}/amazon/golden-age/books.parquet"
    assert PAGE_IMAGES.path(lake, "amazon", shard) == PAGE_IMAGES.path(lake, "amazon", "golden-age")
    assert BOOKS.where("amazon", shard) == "amazon/golden-age/shards/0000-7fff/books.parquet"
    assert TRAINING_PAGES.path(lake) == f"{tmp_path}/training/pages.parquet"


def test_a_100k_page_collection_is_about_35_balanced_runs() -> None:
    books = _uniform_books(3400, 30)  # 102,000 pages
    ranges = plan_ranges(books, 3000, existing=None, was_whole=False)
    assert ranges is not None and len(ranges) == 34
    assert ranges[0].low == 0 and ranges[-1].high == FULL_RANGE.high
    assert all(a.high + 1 == b.low for a, b in pairwise(ranges))
    sizes = _pages_per_range(books, ranges)
    print(f"34 shards: {min(sizes)}-{max(sizes)} pages, mean {sum(sizes) / len(sizes):.0f}")
    assert sum(sizes) == 102_000 and max(sizes) <= 3000 * SPLIT_AT
    assert min(sizes) > 3000 / 2


def test_a_plan_that_fits_is_kept_and_only_an_overflowing_shard_is_halved() -> None:
    books = _uniform_books(3400, 30)
    first = plan_ranges(books, 3000, existing=None, was_whole=False)
    grown = [*books, *_uniform_books(60, 30, seed=2)]  # +1,800 pages spread over all shards
    assert plan_ranges(grown, 3000, existing=first, was_whole=False) == first
    # 2,000 pages land in one shard: that shard alone is halved (as often as it needs).
    target = first[5]
    crowded = [*grown, *[(target.low + i % target.width, 40) for i in range(50)]]
    after = plan_ranges(crowded, 3000, existing=first, was_whole=False)
    assert [r for r in after if r not in first] == [*target.halves()]
    assert set(first) - set(after) == {target}
    # Shrinking merges nothing.
    assert plan_ranges(books[:100], 3000, existing=first, was_whole=False) == first


def test_a_collection_is_split_only_when_it_is_large() -> None:
    small = _uniform_books(90, 30)  # 2,700 pages
    assert plan_ranges(small, 3000, existing=None, was_whole=False) is None
    medium = _uniform_books(120, 30)  # 3,600: a new collection is split...
    assert len(plan_ranges(medium, 3000, existing=None, was_whole=False)) == 2
    # ...one that is already a whole partition stays so until 1.5 times the size.
    assert plan_ranges(medium, 3000, existing=None, was_whole=True) is None
    assert len(plan_ranges(_uniform_books(160, 30), 3000, None, was_whole=True)) == 2


def test_one_huge_book_is_a_shard_of_its_own_and_splitting_stops_there() -> None:
    books = [(0x1234, 5000), *_uniform_books(40, 30)]
    ranges = plan_ranges(books, 1000, existing=None, was_whole=False)
    holding = [r for r in ranges if 0x1234 in r]
    assert len(holding) == 1
    assert [p for p, _ in books if p in holding[0]] == [0x1234]
    assert equal_ranges(1) == [FULL_RANGE]


def _cbz(path: Path, pages: int, tint: int) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(pages):
            image = io.BytesIO()
            Image.new("RGB", (8, 12), (tint % 256, index * 20, 90)).save(image, "PNG")
            archive.writestr(f"{index:03d}.png", image.getvalue())


def test_plans_from_a_real_folder_put_each_book_in_one_shard(tmp_path: Path) -> None:
    root = tmp_path / "library"
    folder = root / "Big Box"
    folder.mkdir(parents=True)
    for number in range(16):
        _cbz(folder / f"Issue {number:02d}.cbz", pages=3, tint=number * 13)
    (folder / "Issue 00 copy.cbz").write_bytes((folder / "Issue 00.cbz").read_bytes())
    (folder / "broken.cbz").write_bytes(b"not a zip at all")
    collection = FolderTreeSource("amazon", root).collection("big-box")
    fingerprints = FingerprintCache(tmp_path / "cache" / "fingerprints.sqlite")

    planned = plan_partitions(collection, fingerprints, target=10)
    keys = [p.key for p in planned]
    assert len(planned) >= 5 and all(collection_key(k) == "big-box" for k in keys)
    assert sum(p.pages for p in planned) == 17 * 3  # the broken file counts no pages
    shards = {p.key: {b.relative_path for b in p.collection.books} for p in planned}
    every = [path for books in shards.values() for path in books]
    assert sorted(every) == sorted(b.relative_path for b in collection.books)  # once each
    [with_copy] = [books for books in shards.values() if "Big Box/Issue 00.cbz" in books]
    assert "Big Box/Issue 00 copy.cbz" in with_copy  # same bytes, same shard
    # A run of one shard finds the same books from its key alone.
    for key, books in shards.items():
        shard = shard_of(collection, split_key(key)[1], fingerprints)
        assert {b.relative_path for b in shard.books} == books

    # The same plan again (from the instance's keys), however it is asked.
    assert [p.key for p in plan_partitions(collection, fingerprints, 10, keys)] == keys
    broken = next(b for b in collection.books if b.relative_path.endswith("broken.cbz"))
    assert isinstance(book_prefix(broken, fingerprints), int)


def test_planning_stops_at_its_deadline_and_goes_on_from_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "library"
    (root / "Box").mkdir(parents=True)
    for number in range(6):
        _cbz(root / "Box" / f"{number}.cbz", pages=4, tint=number)
    collection = FolderTreeSource("amazon", root).collection("box")
    fingerprints = FingerprintCache(tmp_path / "fingerprints.sqlite")
    with pytest.raises(PlanningTimeout, match="box"):
        plan_partitions(collection, fingerprints, target=5, deadline=time.monotonic() - 1)
    planned = plan_partitions(collection, fingerprints, target=5, deadline=time.monotonic() + 60)
    assert sum(p.pages for p in planned) == 24 and len(planned) > 1
