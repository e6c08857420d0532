"""Loose page images grouped into books by their names, in a folder-tree source."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from comix_resources.books import book_paths_to_extract, build_books_table
from comix_resources.fingerprints import FingerprintCache
from comix_resources.ids import book_id_from_sha256, sha256_bytes, sha256_text
from comix_resources.lake import Lake
from comix_resources.page_store import extract_collection
from comix_resources.pages import ExtractionLimits, iter_pages
from comix_resources.settings import ComixSettings
from comix_resources.sources import FolderTreeSource, compile_page_name_pattern, group_pages
from comix_resources.sources.loose_pages import page_name

DEFAULT = compile_page_name_pattern(None)


def image(seed: int, fmt: str = "JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 16, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "book", "page"),
    [
        ("Book Title - p012.jpg", "Book Title", 12),
        ("Book_Title_p012.jpg", "Book_Title", 12),
        ("Book Title 012.jpg", "Book Title", 12),
        ("Book_Title_012.jpg", "Book_Title", 12),
        ("Book_Title_7.png", "Book_Title", 7),  # not padded
        ("#Guardian 001_#Guardian 001 - p000.jpg.png", "#Guardian 001_#Guardian 001", 0),
        ("Spider-Man 2099 001.jpg", "Spider-Man 2099", 1),  # a number in the book's name
        ("Hellboy pg 3.JPG", "Hellboy", 3),
        ("Hellboy page 10.webp", "Hellboy", 10),
    ],
)
def test_default_pattern_reads_the_usual_names(name: str, book: str, page: int) -> None:
    assert page_name(name, DEFAULT) == (book, page)


@pytest.mark.parametrize("name", ["001.jpg", "p001.jpg", "cover.jpg", "Book - p12 scan.jpg"])
def test_names_without_a_book_and_a_page(name: str) -> None:
    assert page_name(name, DEFAULT) is None


def test_three_books_interleaved_in_one_folder() -> None:
    names = [
        "Moon_Patrol_10.jpg",
        "Sky Pirates 01.jpg",
        "#Guardian 001_#Guardian 001 - p001.jpg.png",
        "Moon_Patrol_2.jpg",
        "Sky Pirates 02.jpg",
        "#Guardian 001_#Guardian 001 - p000.jpg.png",
        "Moon_Patrol_1.jpg",
        "Moon_Patrol.jpg",  # the pattern cannot read it: the first page of its namesake
        "credits.png",  # nor this: a book of its own
    ]
    groups = group_pages(names, DEFAULT)
    assert groups is not None
    assert [(g.name, g.files) for g in groups] == [
        (
            "#Guardian 001_#Guardian 001",
            (
                "#Guardian 001_#Guardian 001 - p000.jpg.png",
                "#Guardian 001_#Guardian 001 - p001.jpg.png",
            ),
        ),
        ("credits", ("credits.png",)),
        (
            "Moon_Patrol",
            ("Moon_Patrol.jpg", "Moon_Patrol_1.jpg", "Moon_Patrol_2.jpg", "Moon_Patrol_10.jpg"),
        ),
        ("Sky Pirates", ("Sky Pirates 01.jpg", "Sky Pirates 02.jpg")),
    ]


@pytest.mark.parametrize(
    "names",
    [
        [f"{n:03d}.jpg" for n in range(1, 25)],  # one run of numbers
        [f"page_{n}.jpg" for n in range(1, 25)],  # one book's pages
        [f"Book 0{n}.jpg" for n in range(1, 9)] + ["cover.jpg", "back.jpg"],
        ["cover.jpg", "scan.png"],  # nothing the pattern reads
    ],
)
def test_a_folder_of_one_book_stays_one_book(names: list[str]) -> None:
    assert group_pages(names, DEFAULT) is None


def test_a_pattern_of_ones_own() -> None:
    pattern = compile_page_name_pattern(r"(?P<page>\d+)-(?P<book>.+)")
    groups = group_pages(["1-alpha.jpg", "2-alpha.jpg", "1-beta.jpg"], pattern)
    assert groups is not None
    assert [(g.name, g.files) for g in groups] == [
        ("alpha", ("1-alpha.jpg", "2-alpha.jpg")),
        ("beta", ("1-beta.jpg",)),
    ]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?P<book>.+", "is not a regular expression"),
        (r"(?P<book>.+) (\d+)", r"lacks the named group\(s\) \(\?P<page>\.\.\.\)"),
    ],
)
def test_a_bad_pattern_is_refused_naming_the_variable(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"COMIX_PAGE_NAME_PATTERN .*{message}"):
        compile_page_name_pattern(pattern)
    with pytest.raises(ValueError, match=message):
        ComixSettings.from_env({"COMIX_PAGE_NAME_PATTERN": pattern})


@pytest.fixture
def loose_tree(tmp_path: Path) -> Path:
    root = tmp_path / "amazon"
    folder = root / "Scans"
    folder.mkdir(parents=True)
    for n in range(3):
        (folder / f"Alpha - p{n:03d}.jpg.png").write_bytes(image(n, "PNG"))
        (folder / f"Beta_{n + 1}.jpg").write_bytes(image(10 + n))
    (folder / "Alpha.truth.json").write_text("{}")  # not a page
    (folder / "Beta").mkdir()  # a subfolder carrying a book's name
    (folder / "Beta" / "cover.jpg").write_bytes(image(20))
    one = root / "Scans" / "One Book"
    one.mkdir()
    for n in range(1, 4):
        (one / f"{n:02d}.jpg").write_bytes(image(30 + n))
    return root


def test_folder_tree_lists_each_book_of_a_folder(loose_tree: Path) -> None:
    [collection] = FolderTreeSource("amazon", loose_tree).collections()
    books = {b.relative_path: b for b in collection.books}
    assert set(books) == {"Scans/Alpha", "Scans/Beta (pages)", "Scans/Beta", "Scans/One Book"}
    alpha = books["Scans/Alpha"]
    assert (alpha.format, alpha.grouping) == ("pages", "page_names")
    assert alpha.page_files == tuple(f"Alpha - p{n:03d}.jpg.png" for n in range(3))
    assert alpha.path == loose_tree / "Scans" / "Alpha"  # the book's name in its folder
    assert alpha.size == sum((alpha.path.parent / f).stat().st_size for f in alpha.page_files)
    assert books["Scans/Beta (pages)"].page_files == ("Beta_1.jpg", "Beta_2.jpg", "Beta_3.jpg")
    assert (books["Scans/Beta"].format, books["Scans/Beta"].grouping) == ("folder", "folder")
    assert books["Scans/One Book"].grouping == "folder"  # one run of numbers
    # a pattern that reads nothing leaves the folder one book of six images
    plain = FolderTreeSource("amazon", loose_tree, page_name_pattern=r"(?P<book>x)(?P<page>9)")
    [scans] = [b for b in plain.collections()[0].books if b.relative_path == "Scans"]
    assert scans.grouping == "folder" and scans.size > 0


def test_books_table_pages_and_content_derived_ids(loose_tree: Path, tmp_path: Path) -> None:
    [collection] = FolderTreeSource("amazon", loose_tree).collections()
    cache = FingerprintCache(tmp_path / "cache" / "fp.sqlite")
    books = build_books_table("amazon", collection, cache, ExtractionLimits())
    alpha = books.filter(books["relative_path"] == "Scans/Alpha").row(0, named=True)
    assert alpha["status"] == "ok", alpha["error"]
    assert (alpha["format"], alpha["container"], alpha["grouping"]) == (
        "pages",
        "folder",
        "page_names",
    )
    assert alpha["page_count"] == 3
    assert (alpha["title"], alpha["series"], alpha["metadata_origin"]) == (
        "Alpha",
        "Alpha",
        "file name",
    )
    assert [os.fsdecode(n) for n in alpha["page_files"]] == [
        f"Alpha - p{n:03d}.jpg.png" for n in range(3)
    ]
    # the id is the pages' digests in page order, not the names
    digests = [sha256_bytes(image(n, "PNG")) for n in range(3)]
    assert alpha["sha256"] == sha256_text("\n".join(digests))
    assert alpha["book_id"] == book_id_from_sha256(alpha["sha256"])
    assert books.filter(books["grouping"] == "file").height == 0
    assert set(books["grouping"]) == {"page_names", "folder"}

    lake = Lake(str(tmp_path / "lake"))
    pages, failures = extract_collection(
        lake, lake.path("pages"), book_paths_to_extract(books), ExtractionLimits()
    )
    assert failures == {}
    alpha_pages = pages.filter(pages["book_id"] == alpha["book_id"]).sort("page_index")
    assert alpha_pages["source_name"].to_list() == [f"Alpha - p{n:03d}.jpg.png" for n in range(3)]
    assert alpha_pages["format"].to_list() == ["png"] * 3  # the bytes, not the first suffix
    assert pages.height == 3 + 3 + 1 + 3  # no page read twice


def test_renaming_keeps_the_id_reordering_changes_it(loose_tree: Path, tmp_path: Path) -> None:
    def alpha_id(root: Path, name: str = "Scans/Alpha") -> str:
        [collection] = FolderTreeSource("amazon", root).collections()
        cache = FingerprintCache(tmp_path / f"fp-{len(list(tmp_path.iterdir()))}.sqlite")
        books = build_books_table("amazon", collection, cache, ExtractionLimits())
        return books.filter(books["relative_path"] == name)["book_id"].item()

    before = alpha_id(loose_tree)
    folder = loose_tree / "Scans"
    for n in range(3):
        (folder / f"Alpha - p{n:03d}.jpg.png").rename(folder / f"Alpha_{n + 1:03d}.png")
    assert alpha_id(loose_tree) == before
    (folder / "Alpha_001.png").rename(folder / "Alpha_009.png")  # the first page goes last
    assert alpha_id(loose_tree) != before


def test_a_group_of_pages_reads_as_one_book(loose_tree: Path) -> None:
    names = ["Beta_2.jpg", "Beta_1.jpg"]
    pages = list(iter_pages(loose_tree / "Scans" / "Beta", page_files=names))
    assert [p.source_name for p in pages] == names  # the grouping's order is kept
    assert [p.data for p in pages] == [image(11), image(10)]


def test_thousands_of_books_in_one_folder_stay_thousands(tmp_path: Path) -> None:
    """805,000 pages of thousands of books must not become one book (the listing's speed is
    printed by ``comix_resources.benchmarks.loose_pages``)."""
    folder = tmp_path / "root" / "Corpus"
    folder.mkdir(parents=True)
    for book in range(400):
        for page in range(5):
            (folder / f"Series {book:04d} - p{page:03d}.jpg").touch()
    [collection] = FolderTreeSource("amazon", tmp_path / "root").collections()
    assert len(collection.books) == 400
    assert {len(b.page_files) for b in collection.books} == {5}


def test_books_suite_knows_every_grouping(loose_tree: Path, tmp_path: Path) -> None:
    from comix_resources.expectations import books_suite
    from comix_resources.expectations.suites import BOOK_GROUPINGS
    from comix_resources.sources import GROUPINGS

    assert BOOK_GROUPINGS == GROUPINGS
    [collection] = FolderTreeSource("amazon", loose_tree).collections()
    cache = FingerprintCache(tmp_path / "fp.sqlite")
    books = build_books_table("amazon", collection, cache, ExtractionLimits())
    outcome = books_suite(books).validate()
    assert outcome.success, outcome.to_markdown()  # lists of names and declared pages too
    broken = books.with_columns(grouping=pl.lit("guessed"))
    failed = {r.name for r in books_suite(broken).validate().failures}
    assert failed == {"expect_column_values_to_be_in_set(grouping)"}
