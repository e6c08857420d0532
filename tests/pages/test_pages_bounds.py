"""Limits checked on what is really read: duplicate names, ratios as read, decoded bytes,
PDF pages that draw huge images, the render budget, page counts, and the page boundary."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pymupdf
import pytest

from comix_resources.benchmarks.hostile_files import png_of_zeros
from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages import ExtractionLimits, inspect_book, iter_pages
from comix_resources.pages.archives import Member, check_read
from comix_resources.pages.images import image_layout, page_from_bytes
from tests.hostile import (
    blank_pdf,
    cb7,
    corrupt_7z,
    jpeg,
    pdf_drawing_huge_image,
    tar_with,
)


def test_a_name_listed_twice_means_its_first_entry_in_every_container(tmp_path: Path) -> None:
    first, second, other = jpeg(seed=1), jpeg(seed=2), jpeg(seed=3)
    entries = [("p1.jpg", first), ("p1.jpg", second), ("p2.jpg", other)]
    zip_book = tmp_path / "dup.cbz"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(zip_book, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    tar_with(entries)(tmp_path / "dup.cbt")
    cb7(entries)(tmp_path / "dup.cb7")
    for book in (zip_book, tmp_path / "dup.cbt", tmp_path / "dup.cb7"):
        assert [p.data for p in iter_pages(book)] == [first, other], book.name


def test_the_checked_entry_is_the_one_read_so_a_decoy_cannot_smuggle_a_bomb(
    tmp_path: Path,
) -> None:
    book = tmp_path / "decoy.cbz"
    decoy = jpeg(seed=4)
    with pytest.warns(UserWarning), zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p1.jpg", decoy)
        with archive.open("p1.jpg", "w", force_zip64=True) as entry:
            for _ in range(20):
                entry.write(bytes(1 << 20))
    assert [p.data for p in iter_pages(book)] == [decoy]


def test_the_ratio_is_checked_again_on_the_bytes_decompression_gave() -> None:
    member = Member("p1.jpg", size=10, compressed=1000)  # the header understates the size
    limits = ExtractionLimits(ratio_check_min_bytes=1000, max_compression_ratio=1000)
    check_read(member, bytes(999_000), limits)
    with pytest.raises(UnsafeArchiveError, match=r"ratio 1001:1 for entry 'p1.jpg' when read"):
        check_read(member, bytes(1_001_000), limits)


def test_a_7z_with_corrupt_lzma_data_is_a_book_error(tmp_path: Path) -> None:
    corrupt_7z(tmp_path / "bad.cb7")
    assert inspect_book(tmp_path / "bad.cb7").page_count == 3  # the listing is intact
    with pytest.raises(BookError, match="corrupt or truncated 7z archive: Corrupt input data"):
        list(iter_pages(tmp_path / "bad.cb7"))


@pytest.mark.parametrize(
    ("width", "height", "depth", "colour", "channels", "layout"),
    [
        (300, 200, 8, 2, 3, (300, 200, 3)),
        (300, 200, 16, 6, 4, (300, 200, 8)),
        (300, 200, 8, 3, 1, (300, 200, 3)),  # a palette decodes to RGB
        (300, 200, 1, 0, 1, (300, 200, 1)),
    ],
)
def test_png_layout_from_the_header(
    width: int, height: int, depth: int, colour: int, channels: int, layout: tuple
) -> None:
    assert image_layout("png", png_of_zeros(width, height, depth, colour, channels)) == layout


def test_jpeg_layout_counts_components() -> None:
    assert image_layout("jpg", jpeg(64, 32)) == (64, 32, 3)


def test_decoded_bytes_bound_a_page_that_has_few_pixels() -> None:
    sixteen_bit = png_of_zeros(2000, 1000, 16, 6, 4)  # 2 M pixels, 16 MB decoded
    limits = ExtractionLimits(max_decoded_bytes=10_000_000)
    page = page_from_bytes(0, "p1.png", sixteen_bit, limits)
    assert page.data is None and page.error == (
        "image too large to decode: 2000x1000 x 8 bytes per pixel = 16000000 bytes"
        " > max_decoded_bytes 10000000"
    )
    assert page_from_bytes(0, "p1.png", png_of_zeros(2000, 1000, 8, 2, 3), limits).error is None


def test_the_default_pixel_limit_is_pillows_guard() -> None:
    from PIL import Image

    assert ExtractionLimits().max_pixels == Image.MAX_IMAGE_PIXELS


def test_a_pdf_page_drawing_a_huge_image_is_refused_without_decoding_it(tmp_path: Path) -> None:
    pdf_drawing_huge_image(tmp_path / "huge.pdf", side=20_000)
    started = time.perf_counter()
    pages = list(iter_pages(tmp_path / "huge.pdf"))
    seconds = time.perf_counter() - started
    assert pages[0].data is None and pages[0].error == (
        "page draws a 20000x20000 image = 400000000 pixels > max_pixels 89478485"
        " (decompression bomb?)"
    )
    assert pages[1].error is None and pages[1].ext == "jpg"
    assert seconds < 30, seconds  # decoding 400 M pixels to render would take minutes


def test_too_many_pages_is_a_book_error_for_every_container(tmp_path: Path) -> None:
    blank_pdf(30)(tmp_path / "long.pdf")
    with pytest.raises(UnsafeArchiveError, match=r"too many pages: 30 > max_pages 20"):
        inspect_book(tmp_path / "long.pdf", ExtractionLimits(max_pages=20))
    tar_with([(f"p{n}.jpg", jpeg(8, 8, seed=n)) for n in range(30)])(tmp_path / "long.cbt")
    with pytest.raises(UnsafeArchiveError, match=r"too many pages: 30 > max_pages 20"):
        inspect_book(tmp_path / "long.cbt", ExtractionLimits(max_pages=20))


def test_blank_pdf_pages_are_encoded_once(tmp_path: Path) -> None:
    blank_pdf(40)(tmp_path / "blank.pdf")
    pages = list(iter_pages(tmp_path / "blank.pdf", ExtractionLimits(pdf_dpi=72)))
    assert {(p.width, p.height, p.error) for p in pages} == {(595, 842, None)}
    assert len({id(p.data) for p in pages}) == 1  # one PNG, shared


def test_the_render_budget_turns_the_rest_into_page_errors(tmp_path: Path) -> None:
    doc = pymupdf.open()
    for n in range(4):
        doc.new_page(width=100, height=100).insert_text((10, 50), f"page {n}")
    doc.save(tmp_path / "text.pdf")
    limits = ExtractionLimits(pdf_dpi=72, max_rendered_pixels=25_000)  # two 100x100 pages
    pages = list(iter_pages(tmp_path / "text.pdf", limits))
    assert [p.error is None for p in pages] == [True, True, False, False]
    assert pages[2].error == (
        "not rendered: the book's render budget is spent (20000 pixels rendered,"
        " max_rendered_pixels 25000)"
    )


def test_any_exception_on_a_page_is_that_pages_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from comix_resources.pages import images

    def broken(*args: object) -> None:
        raise ZeroDivisionError("a decoder bug")

    monkeypatch.setattr(images, "truncation_problem", broken)
    page = page_from_bytes(3, "p4.jpg", jpeg(), ExtractionLimits())
    assert page.data is None and page.index == 3
    assert page.error == "unreadable page: ZeroDivisionError: a decoder bug"
