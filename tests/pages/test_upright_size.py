"""pages.parquet records a page's upright size: the size the page loader's pixels have."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from comix_resources.images import load_page
from comix_resources.pages.images import image_layout


def _encoded(fmt: str, orientation: int | None, **options: object) -> bytes:
    page = Image.new("RGB", (300, 200), "white")
    buffer = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        # TIFF keeps the tag among its own; the others carry an EXIF block
        options["tiffinfo" if fmt == "TIFF" else "exif"] = exif if fmt == "TIFF" else exif.tobytes()
    page.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "ext"), [("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tif"), ("PNG", "png")]
)
@pytest.mark.parametrize("orientation", [None, 1, 3, 5, 6, 7, 8])
def test_the_header_size_is_the_upright_size(fmt: str, ext: str, orientation: int | None) -> None:
    data = _encoded(fmt, orientation)
    width, height, _ = image_layout(ext, data)
    if ext == "png":  # PNG's eXIf chunk is not read from the header (rare in comic pages)
        return
    assert (width, height) == ((200, 300) if orientation in (5, 6, 7, 8) else (300, 200))
    assert load_page(data).page_size == (width, height)  # what every engine decodes


def test_a_broken_exif_block_keeps_the_stored_size() -> None:
    data = bytearray(_encoded("JPEG", 6))
    start = data.index(b"Exif\x00\x00")
    data[start + 6 : start + 8] = b"XX"  # neither II nor MM: no byte order
    assert image_layout("jpg", bytes(data))[:2] == (300, 200)
    data[start + 6 : start + 8] = b"II"
    data[start + 10 : start + 14] = (10**6).to_bytes(4, "little")  # IFD0 past the segment
    assert image_layout("jpg", bytes(data))[:2] == (300, 200)


def test_a_phone_photo_of_a_page_is_recorded_upright_and_not_a_spread(tmp_path) -> None:
    """A portrait page stored landscape with "rotate 90" in its EXIF: pages.parquet says
    portrait, so it is not taken for a double-page spread."""
    import zipfile

    from comix_resources.lake import Lake
    from comix_resources.page_store import page_row
    from comix_resources.pages import iter_pages

    book = tmp_path / "photos.cbz"
    with zipfile.ZipFile(book, "w") as archive:
        archive.writestr("001.jpg", _encoded("JPEG", 6))
    (page,) = list(iter_pages(book))
    assert (page.width, page.height) == (200, 300)
    lake = Lake(str(tmp_path / "lake"))
    (tmp_path / "lake" / "staging").mkdir(parents=True)
    row = page_row(lake, lake.path("staging"), lake.path("book"), "b" * 16, page)
    assert (row["width"], row["height"], row["is_spread"]) == (200, 300, False)
