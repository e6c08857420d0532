from __future__ import annotations

import hashlib
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from comix_resources.sources import (
    BookFile,
    CalibreSource,
    ComicMetadata,
    DeclaredPage,
    comic_format,
    read_comic_metadata,
)
from comix_resources.sources.metadata import _rar_metadata_files

CREATORS = ("Joe Orlando", "Wally Wood")  # writer first
PUBLISHER = "Youthful Adventure Stories"


def book(path: Path, fmt: str | None = None) -> BookFile:
    fmt = fmt or comic_format(path) or "folder"
    size = path.stat().st_size if path.is_file() else 0
    return BookFile(path, path.name, fmt, size, 0)


def captain(title: str, origin: str, pages: tuple[DeclaredPage, ...] = ()) -> ComicMetadata:
    return ComicMetadata(
        title, "Captain Science", "1", PUBLISHER, 1950, origin, CREATORS, pages=pages
    )


# Their ComicInfo <Pages> type the cover only, as ComicTagger writes it by default.
CAPTAIN_PAGES = (
    DeclaredPage(0, "FrontCover", None),
    *(DeclaredPage(index, None, None) for index in range(1, 5)),
)

EXPECTED = {
    "Captain Science #001.cbz": captain("The Beginning; The End", "ComicInfo.xml", CAPTAIN_PAGES),
    "Captain Science #001-cix.cbt": captain(
        "The Beginning; The End", "ComicInfo.xml", CAPTAIN_PAGES
    ),
    "Captain Science #001.cb7": captain("The Beginning; The End", "ComicInfo.xml", CAPTAIN_PAGES),
    # ComicBookInfo in the RAR comment, read without `unrar`.
    "Captain Science #001-cbi.cbr": captain("The Beginning", "ComicBookInfo"),
    # MetronInfo has no title: comicbox names the issue after its stories.
    "Captain Science #001-metron.cbz": captain(
        "Captain Lost; Science is Good; metron", "MetronInfo"
    ),
    # The loose pages with their sidecar comicinfo.xml, as an image-folder book.
    "Captain Science 001": captain("The Beginning; The End", "ComicInfo.xml", CAPTAIN_PAGES),
    "test_pdf.pdf": ComicMetadata(
        "the tangle of their lives", None, None, None, None, "PDF info", ("Jon Osterman",)
    ),
    # An embedded ComicInfo.xml beats the document info.
    "test_cix.pdf": ComicMetadata(
        "the tangle of their lives",
        None,
        None,
        "SmallPub",
        None,
        "ComicInfo.xml",
        ("Jon Osterman",),
    ),
    "empty.cbz": ComicMetadata(),
    "macos_resource_fork.cbz": ComicMetadata(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_metadata(comicbox_dir: Path, name: str) -> None:
    assert read_comic_metadata(book(comicbox_dir / name)) == EXPECTED[name]


def test_calibre_catalog_wins_and_file_fills_gaps(calibre_library: Path) -> None:
    books = {
        b.catalog["calibre_id"]: b
        for c in CalibreSource(calibre_library).collections()
        for b in c.books
    }
    found = {key: read_comic_metadata(b) for key, b in books.items()}
    # Title and series from the catalog; publisher, year, creators (catalog: "Unknown") and
    # the page types from the CBZ's ComicInfo.xml.
    assert found[1] == ComicMetadata(
        "Captain Science #001",
        "Captain Science",
        "1",
        PUBLISHER,
        1950,
        "Calibre",
        CREATORS,
        pages=CAPTAIN_PAGES,
    )
    # No series in the catalog: series and issue come from the CBR's ComicBookInfo together.
    assert found[2] == ComicMetadata(
        "Captain Science #001 (CBR scan)",
        "Captain Science",
        "1",
        PUBLISHER,
        1950,
        "Calibre",
        CREATORS,
    )
    assert found[3].title == "Captain Science #001 (CB7 scan)"
    assert found[3].origin == "Calibre"
    assert found[4] == ComicMetadata(
        "the tangle of their lives", "Tangle", "1", None, None, "Calibre", ("Jon Osterman",)
    )


def test_bad_files_give_empty_metadata(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.cbz"
    garbage.write_bytes(b"not a zip at all" * 10)
    fake_pdf = tmp_path / "fake.pdf"
    fake_pdf.write_bytes(b"%PDF-1.4 broken")
    empty_rar = tmp_path / "empty.cbr"
    empty_rar.write_bytes(b"")
    candidates = [
        book(garbage),
        book(fake_pdf),
        book(empty_rar),
        BookFile(tmp_path / "missing.cbz", "missing.cbz", "cbz", 0, 0),
        BookFile(tmp_path / "missing", "missing", "folder", 0, 0),
        BookFile(tmp_path, "x", "epub", 0, 0),  # a folder where a file was expected
    ]
    for candidate in candidates:
        assert read_comic_metadata(candidate) == ComicMetadata(), candidate.path


def test_missing_calibre_file_keeps_catalog(tmp_path: Path) -> None:
    missing = BookFile(
        tmp_path / "gone.cbz",
        "gone.cbz",
        "cbz",
        0,
        0,
        {"title": "Gone", "authors": ("A. Writer",), "series": "S", "series_index": 2.5},
    )
    assert read_comic_metadata(missing) == ComicMetadata(
        "Gone", "S", "2.5", None, None, "Calibre", ("A. Writer",)
    )


def test_reading_never_writes(comicbox_dir: Path, tmp_path: Path) -> None:
    for name in EXPECTED:
        source = comicbox_dir / name
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)

    def snapshot() -> dict[str, tuple[str, int]]:
        return {
            str(p.relative_to(tmp_path)): (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
            for p in sorted(tmp_path.rglob("*"))
            if p.is_file()
        }

    before = snapshot()
    for name in EXPECTED:
        read_comic_metadata(book(tmp_path / name))
    assert snapshot() == before


def test_rar_fallback_reads_metadata_files_with_libarchive(comicbox_dir: Path) -> None:
    """Without `unrar`, metadata files inside a RAR are read through libarchive.

    libarchive reads any archive format, so a zip stands in for a RAR with a ComicInfo.xml
    (no RAR writer is available to build one).
    """
    found = _rar_metadata_files(comicbox_dir / "Captain Science #001.cbz")
    assert {(fmt.name, name) for fmt, name, _ in found} == {
        ("COMIC_INFO", "comicinfo.xml"),  # the top-level one wins over the nested copy
        ("METRON_INFO", "Captain Science 001/metroninfo.xml"),
    }
    assert all(data.startswith(b"<?xml") for _, _, data in found)


def test_metadata_is_fast_once_warm(comicbox_dir: Path, tmp_path: Path) -> None:
    cbz = book(comicbox_dir / "Captain Science #001.cbz")
    read_comic_metadata(cbz)  # warm-up: imports comicbox and builds its config once
    start = time.perf_counter()
    for _ in range(10):
        read_comic_metadata(cbz)
    assert (time.perf_counter() - start) / 10 < 0.25


def test_zip_comment_is_not_needed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.cbz"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("001.jpg", b"\xff\xd8\xff")
    assert read_comic_metadata(book(plain)).origin is None


def test_cbr_without_unrar_falls_back_to_libarchive(
    comicbox_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CBR whose only metadata is a ComicInfo.xml inside: comicbox cannot extract it without
    `unrar`, so the libarchive fallback feeds it in (simulated: the comment is hidden and the
    files come from the zip fixture, since no RAR writer is available)."""
    from comix_resources.sources import metadata

    real_documents = metadata._normalized_documents
    calls = []

    def first_call_finds_nothing(box):  # type: ignore[no-untyped-def]
        calls.append(box)
        return [] if len(calls) == 1 else real_documents(box)

    inner = _rar_metadata_files(comicbox_dir / "Captain Science #001.cbz")
    monkeypatch.setattr(metadata, "_normalized_documents", first_call_finds_nothing)
    monkeypatch.setattr(metadata, "_rar_metadata_files", lambda path: inner)
    from comicbox.box import Comicbox

    # As on a machine without `unrar`, whatever this one has.
    monkeypatch.setattr(Comicbox, "is_unrar_supported", classmethod(lambda cls: False))
    found = read_comic_metadata(book(comicbox_dir / "Captain Science #001-cbi.cbr"))
    assert found.origin == "ComicInfo.xml"
    assert found.title == "The Beginning; The End"
    assert len(calls) == 2
