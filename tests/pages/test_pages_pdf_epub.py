"""PDF (embedded image vs render, encryption) and fixed-layout EPUB books built by the tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytest

from comix_resources.errors import BookError
from comix_resources.pages import ExtractionLimits, detect_container, inspect_book, iter_pages

ImageFactory = Callable[..., bytes]


def test_scanned_pdf_gives_the_embedded_jpegs_untouched(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    jpegs = [jpeg_bytes(300, 450, seed=n) for n in range(3)]
    doc = pymupdf.open()
    for jpeg in jpegs:
        page = doc.new_page(width=216, height=324)
        page.insert_image(page.rect, stream=jpeg)
    doc.save(tmp_path / "scan.pdf")

    pages = list(iter_pages(tmp_path / "scan.pdf"))

    assert [p.data for p in pages] == jpegs
    assert {(p.ext, p.width, p.height, p.rendered, p.error) for p in pages} == {
        ("jpg", 300, 450, False, None)
    }
    assert [p.source_name for p in pages] == ["pdf page 1", "pdf page 2", "pdf page 3"]


def test_vector_pdf_and_image_with_text_over_it_are_rendered(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    doc = pymupdf.open()
    doc.new_page(width=144, height=216).insert_text((20, 50), "Text only", fontsize=12)
    lettered = doc.new_page(width=144, height=216)  # art plus live lettering on top
    lettered.insert_image(lettered.rect, stream=jpeg_bytes(100, 150))
    lettered.insert_text((20, 50), "POW!", fontsize=20)
    doc.save(tmp_path / "vector.pdf")

    pages = list(iter_pages(tmp_path / "vector.pdf", ExtractionLimits(pdf_dpi=100)))

    # page size in points * dpi / 72: 144 x 216 pt at 100 dpi
    assert [(p.ext, p.width, p.height, p.rendered) for p in pages] == [("png", 200, 300, True)] * 2
    assert all(p.data and p.data.startswith(b"\x89PNG") for p in pages)


def test_render_that_would_be_a_pixel_bomb_is_a_page_error(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page(width=14_400, height=14_400).insert_text((20, 50), "huge")
    doc.new_page(width=144, height=144).insert_text((20, 50), "fine")
    doc.save(tmp_path / "huge.pdf")

    pages = list(iter_pages(tmp_path / "huge.pdf", ExtractionLimits(pdf_dpi=72, max_pixels=10**8)))

    assert pages[0].data is None and pages[0].error == (
        "page too large to render: 14400x14400 at 72 dpi > max_pixels 100000000"
    )
    assert pages[1].error is None and (pages[1].width, pages[1].height) == (144, 144)


def test_encrypted_pdf_is_a_book_error(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((50, 50), "secret")
    doc.save(
        tmp_path / "locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y"
    )
    with pytest.raises(BookError, match=r"^encrypted PDF \(needs a password\)$"):
        inspect_book(tmp_path / "locked.pdf")
    with pytest.raises(BookError, match="encrypted PDF"):
        list(iter_pages(tmp_path / "locked.pdf"))


def test_corrupt_pdf_is_a_book_error(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    with pytest.raises(BookError, match="PDF"):
        inspect_book(tmp_path / "broken.pdf")


# EPUB ----------------------------------------------------------------------------------------
CONTAINER_XML = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles></container>"""

OPF = """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0">
  <manifest>
    <item id="a" href="text/a.xhtml" media-type="application/xhtml+xml"/>
    <item id="b" href="text/b.xhtml" media-type="application/xhtml+xml"/>
    <item id="c" href="text/c.xhtml" media-type="application/xhtml+xml"/>
    <item id="i1" href="images/a-cover.jpg" media-type="image/jpeg"/>
  </manifest>
  <spine><itemref idref="c"/><itemref idref="a"/><itemref idref="b"/></spine>
</package>"""

XHTML_IMG = """<html xmlns="http://www.w3.org/1999/xhtml"><body>&nbsp;
<div><img class="page" src="../images/{name}" alt="page"/></div></body></html>"""
XHTML_SVG = """<html xmlns="http://www.w3.org/1999/xhtml"><body><svg
 xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
<image width="800" height="1200" xlink:href="../images/{name}"/></svg></body></html>"""


def make_epub(path: Path, entries: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_epub_pages_follow_the_spine(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    images = {
        f"OEBPS/images/{n}": jpeg_bytes(seed=i)
        for i, n in enumerate(["a-cover.jpg", "b 2.jpg", "c.jpg"])
    }
    book = make_epub(
        tmp_path / "book.epub",
        {
            "META-INF/container.xml": CONTAINER_XML,
            "OEBPS/content.opf": OPF,
            # spine is c, a, b; c shows the cover, a the file "c.jpg", b "b 2.jpg" (URL-quoted)
            "OEBPS/text/c.xhtml": XHTML_SVG.format(name="a-cover.jpg"),
            "OEBPS/text/a.xhtml": XHTML_IMG.format(name="c.jpg"),
            "OEBPS/text/b.xhtml": XHTML_IMG.format(name="b%202.jpg"),
        }
        | images,
    )
    expected = ["OEBPS/images/a-cover.jpg", "OEBPS/images/c.jpg", "OEBPS/images/b 2.jpg"]

    assert detect_container(book) == "epub"
    assert inspect_book(book).page_names == tuple(expected)
    pages = list(iter_pages(book))
    assert [p.data for p in pages] == [images[name] for name in expected]


def test_epub_without_spine_falls_back_to_natural_order(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    book = make_epub(
        tmp_path / "loose.epub",
        {"OEBPS/p10.jpg": jpeg_bytes(), "OEBPS/p9.jpg": jpeg_bytes(), "OEBPS/style.css": "x"},
    )
    assert inspect_book(book).page_names == ("OEBPS/p9.jpg", "OEBPS/p10.jpg")


def test_text_epub_has_no_page_images(tmp_path: Path) -> None:
    book = make_epub(tmp_path / "novel.epub", {"META-INF/container.xml": CONTAINER_XML})
    with pytest.raises(BookError, match=r"no page images in EPUB \(2 entries: mimetype, META"):
        inspect_book(book)


def test_benchmark_runs_and_pdf_pages_stay_byte_identical(tmp_path: Path) -> None:
    from comix_resources.benchmarks.extract import run_extract_benchmark

    rows = {row["case"]: row for row in run_extract_benchmark(tmp_path, pages=2)}

    assert rows["pdf: extract into the lake (ours, embedded JPEG)"]["byte_identical"] is True
    assert (
        rows["cbz: extract into the lake (ours)"]["pages"] == 2
        and rows["cbz: extract into the lake (ours)"]["pages_per_s"] > 0
    )
