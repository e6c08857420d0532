"""The reader on real files from comicbox and rarfile (shared/fixtures)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages import detect_container, inspect_book, iter_pages

LOOSE = "Captain Science 001"
PAGE_FILES = [f"CaptainScience#1_0{n}.jpg" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("Captain Science #001.cbz", "zip"),
        ("Captain Science #001.cb7", "7z"),
        ("Captain Science #001-cix.cbt", "tar"),
        ("Captain Science #001-cbi.cbr", "rar"),
        (LOOSE, "folder"),
    ],
)
def test_every_container_gives_the_loose_pages_byte_for_byte(
    comicbox: Path, name: str, container: str
) -> None:
    book = comicbox / name
    expected = [hashlib.sha256((comicbox / LOOSE / f).read_bytes()).hexdigest() for f in PAGE_FILES]

    inspection = inspect_book(book)
    pages = list(iter_pages(book))

    assert detect_container(book) == container
    assert inspection.container == container
    assert inspection.page_count == 5
    assert [Path(n).name for n in inspection.page_names] == PAGE_FILES
    assert [p.source_name for p in pages] == list(inspection.page_names)
    assert [p.index for p in pages] == [0, 1, 2, 3, 4]
    assert [hashlib.sha256(p.data or b"").hexdigest() for p in pages] == expected
    assert {(p.ext, p.height, p.rendered, p.error) for p in pages} == {("jpg", 160, False, None)}
    assert pages[0].width == 114


def test_macos_resource_forks_are_skipped(comicbox: Path) -> None:
    inspection = inspect_book(comicbox / "macos_resource_fork.cbz")
    assert not any("__MACOSX" in n or Path(n).name.startswith("._") for n in inspection.page_names)
    assert inspection.page_names == ("CaptainScience#1_01.jpg", "CaptainScience#1_02.jpg")
    assert all(p.error is None for p in iter_pages(comicbox / "macos_resource_fork.cbz"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Captain Science #001-metron.cbz", "no page images in archive (1 entry: metroninfo.xml)"),
        ("empty.cbz", "no page images in archive (0 entries)"),
    ],
)
def test_archives_without_images_are_refused(comicbox: Path, name: str, reason: str) -> None:
    with pytest.raises(BookError) as caught:
        inspect_book(comicbox / name)
    assert str(caught.value) == reason


@pytest.mark.parametrize("name", ["test_pdf.pdf", "test_cix.pdf"])
def test_text_pdfs_render_four_pages(comicbox: Path, name: str) -> None:
    inspection = inspect_book(comicbox / name)
    pages = list(iter_pages(comicbox / name))

    assert inspection.container == "pdf"
    assert inspection.page_names == ("page 1", "page 2", "page 3", "page 4")
    assert [p.source_name for p in pages] == [f"pdf page {n}" for n in range(1, 5)]
    for page in pages:
        assert page.rendered and page.ext == "png" and page.error is None
        assert Image.open(io.BytesIO(page.data or b"")).size == (page.width, page.height)
    assert (pages[1].width, pages[1].height) == (1275, 1650)  # US letter at 150 dpi


# RAR edge cases: each either reads or fails with a reason a person understands.
RAR_OUTCOMES = {
    "rar3-solid.rar": (BookError, "solid RAR archive .* non-free `unrar`"),
    "rar5-solid-qo.rar": (BookError, r"no page images in archive \(4 entries"),  # read fine
    "rar5-psw.rar": (BookError, "password-protected"),
    "rar5-hpsw.rar": (BookError, "password-protected RAR archive"),
    "rar5-evil-symlink-traversal.rar": (UnsafeArchiveError, "symlink entry 'up' -> '..'"),
    "rar5-blake.rar": (BookError, r"no page images in archive \(2 entries: stest1.txt"),
    "rar3-subdirs.rar": (BookError, r"no page images in archive \(4 entries: sub/dir2/file2"),
}


@pytest.mark.parametrize("name", sorted(RAR_OUTCOMES))
def test_rar_edge_cases(rar_fixtures: Path, name: str) -> None:
    error, pattern = RAR_OUTCOMES[name]
    with pytest.raises(error, match=pattern) as caught:
        inspect_book(rar_fixtures / name)
    if error is BookError:
        assert not isinstance(caught.value, UnsafeArchiveError)


def test_solid_rar5_data_is_decoded_correctly(rar_fixtures: Path) -> None:
    from comix_resources.pages.archives import RarReader
    from comix_resources.pages.limits import ExtractionLimits

    limits = ExtractionLimits()
    names = ["somedir/stest1.txt", "stest2.txt"]
    with RarReader(rar_fixtures / "rar5-solid-qo.rar") as solid:
        got = dict(solid.read(names, limits))
    with RarReader(rar_fixtures / "rar5-blake.rar") as plain:
        want = dict(plain.read(["stest1.txt", "stest2.txt"], limits))
    assert got["somedir/stest1.txt"] == want["stest1.txt"]
    assert got["stest2.txt"] == want["stest2.txt"]
    assert got["stest2.txt"].startswith(b"000\n001\n")
