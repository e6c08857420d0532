"""Metadata owners' files carry beyond the basics: ComicInfo <Pages> and Manga, EPUB package
documents (OPF), and the names of loose pages."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from comix_resources.sources import (
    BookFile,
    ComicMetadata,
    DeclaredPage,
    metadata_from_name,
    read_comic_metadata,
)
from tests.sources.conftest import fixture_dir


def book(path: Path, fmt: str) -> BookFile:
    return BookFile(path, path.name, fmt, path.stat().st_size, 0)


def test_comicinfo_pages_and_double_page_from_a_real_file() -> None:
    path = fixture_dir("real_archives/readium") / "test-comicinfo.cbz"
    found = read_comic_metadata(book(path, "cbz"))
    assert (found.title, found.series, found.issue, found.year) == (
        "Test Comic Issue",
        "Test Series",
        "5",
        2024,
    )
    assert found.pages == (
        DeclaredPage(0, "FrontCover", None),
        DeclaredPage(1, "Story", None),
        DeclaredPage(2, "Story", True),
    )
    assert found.is_rtl is None  # <Manga>No</Manga> declares nothing


def cbz_with(path: Path, comic_info: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ComicInfo.xml", comic_info)
        archive.writestr("p1.jpg", b"\xff\xd8\xff\xd9")
    return path


@pytest.mark.parametrize(("manga", "is_rtl"), [("YesAndRightToLeft", True), ("Yes", None)])
def test_comicinfo_manga_right_to_left(tmp_path: Path, manga: str, is_rtl: bool | None) -> None:
    xml = f"<ComicInfo><Title>M</Title><Manga>{manga}</Manga></ComicInfo>"
    assert read_comic_metadata(book(cbz_with(tmp_path / "m.cbz", xml), "cbz")).is_rtl is is_rtl


def test_page_types_are_read_as_the_schema_spells_them(tmp_path: Path) -> None:
    # comicbox drops a <Page> whose only attribute is a type outside the schema
    xml = (
        "<ComicInfo><Title>T</Title><Pages><Page Image='0' Type='Poster'/>"
        "<Page Image='1' Type='letters' DoublePage='false'/></Pages></ComicInfo>"
    )
    found = read_comic_metadata(book(cbz_with(tmp_path / "t.cbz", xml), "cbz"))
    assert [(p.index, p.type, p.double_page) for p in found.pages] == [(1, "Letters", False)]


EPUB_CONTAINER = (
    '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="OPS/package.opf" media-type="application/oebps-package+xml"/>'
    "</rootfiles></container>"
)


def epub(path: Path, metadata: str, spine: str = "<spine/>") -> Path:
    opf = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:opf="http://www.idpf.org/2007/opf">{metadata}</metadata>'
        f"<manifest/>{spine}</package>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", EPUB_CONTAINER)
        archive.writestr("OPS/package.opf", opf)
    return path


def test_epub2_calibre_series(tmp_path: Path) -> None:
    path = epub(
        tmp_path / "a.epub",
        "<dc:title>Usagi Yojimbo</dc:title><dc:creator opf:role='aut'>Stan Sakai</dc:creator>"
        "<dc:creator>Unknown</dc:creator><dc:publisher>Dark Horse</dc:publisher>"
        "<dc:date>1987-07-01</dc:date>"
        "<meta name='calibre:series' content='Usagi Yojimbo'/>"
        "<meta name='calibre:series_index' content='3.0'/>",
    )
    assert read_comic_metadata(book(path, "epub")) == ComicMetadata(
        "Usagi Yojimbo", "Usagi Yojimbo", "3", "Dark Horse", 1987, "EPUB OPF", ("Stan Sakai",)
    )


def test_epub3_belongs_to_collection_and_page_progression(tmp_path: Path) -> None:
    path = epub(
        tmp_path / "b.epub",
        "<dc:title>Lone Wolf</dc:title><dc:date>2000</dc:date>"
        "<meta property='belongs-to-collection' id='c1'>Lone Wolf and Cub</meta>"
        "<meta refines='#c1' property='collection-type'>series</meta>"
        "<meta refines='#c1' property='group-position'>2</meta>"
        "<meta property='belongs-to-collection' id='c2'>Manga Classics</meta>"
        "<meta refines='#c2' property='collection-type'>set</meta>",
        "<spine page-progression-direction='rtl'/>",
    )
    found = read_comic_metadata(book(path, "epub"))
    assert (found.title, found.series, found.issue, found.year, found.is_rtl) == (
        "Lone Wolf",
        "Lone Wolf and Cub",
        "2",
        2000,
        True,
    )


def test_comicinfo_inside_an_epub_wins_and_the_opf_fills_gaps(tmp_path: Path) -> None:
    path = epub(tmp_path / "c.epub", "<dc:title>OPF title</dc:title><dc:publisher>P</dc:publisher>")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("ComicInfo.xml", "<ComicInfo><Title>CI title</Title></ComicInfo>")
    found = read_comic_metadata(book(path, "epub"))
    assert (found.title, found.publisher, found.origin) == ("CI title", "P", "ComicInfo.xml")


@pytest.mark.parametrize(
    ("folder", "name", "expected"),
    [
        ("stump", "book.epub", ("Alice's Adventures in Wonderland", ("Lewis Carroll",), 2008)),
        ("stump", "leaves.epub", ("Leaves of Grass", ("Walt Whitman",), 1998)),
        # calibre's placeholder creator and its year 0101 are no data
        ("komga", "epub3.epub", ("zip", (), None)),
    ],
)
def test_real_epubs(folder: str, name: str, expected: tuple) -> None:
    path = fixture_dir(f"real_archives/{folder}") / name
    found = read_comic_metadata(book(path, "epub"))
    assert (found.title, found.authors, found.year) == expected
    assert found.origin == "EPUB OPF"


@pytest.mark.parametrize(
    ("name", "series", "issue", "year"),
    [
        ("#Guardian 001_#Guardian 001", "#Guardian", "1", None),  # repeated, and a '#' series
        ("Moon Patrol 003 (1983)", "Moon Patrol", "3", 1983),
        ("Sky_Pirates", "Sky Pirates", None, None),
    ],
)
def test_names_of_loose_page_books(name: str, series: str, issue: str | None, year: int) -> None:
    found = metadata_from_name(name, title=name)
    assert (found.title, found.series, found.issue, found.year, found.origin) == (
        name,
        series,
        issue,
        year,
        "file name",
    )
