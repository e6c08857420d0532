"""The one page loader: orientation, transparency, modes and reduced decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from comix_resources.images import load_page, load_rgb, open_page


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_exif_orientation_stands_the_page_up() -> None:
    page = Image.new("RGB", (300, 200), "white")
    page.paste((255, 0, 0), (0, 0, 30, 200))  # a red band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    decoded = load_page(_encoded(page, "JPEG", exif=exif.tobytes(), quality=95))
    assert decoded.pixels.shape == (300, 200, 3)  # upright: portrait
    assert decoded.page_size == (200, 300)
    top = decoded.pixels[:20].reshape(-1, 3).mean(axis=0)
    assert top[0] > 200 and top[1] < 80  # the band is now along the top


def test_transparency_lands_on_white_and_grey_stays_grey_when_asked() -> None:
    clear = _encoded(Image.new("RGBA", (40, 60), (0, 0, 0, 0)), "PNG")
    assert (load_rgb(clear) == 255).all()
    grey = _encoded(Image.new("L", (40, 60), 30), "PNG")
    assert load_page(grey, mode="keep").pixels.shape == (60, 40)
    assert load_rgb(grey).shape == (60, 40, 3)
    assert open_page(_encoded(Image.new("P", (8, 8)), "PNG")).mode == "RGB"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_reduced_decode_keeps_at_least_the_size_asked_and_reports_its_scale(fmt: str) -> None:
    rng = np.random.default_rng(0)
    page = Image.fromarray(rng.integers(0, 255, (2400, 1600, 3), dtype=np.uint8))
    decoded = load_page(_encoded(page, fmt), max_side=500)
    longest = max(decoded.pixels.shape[:2])
    assert 500 <= longest < 1000  # never smaller than asked, never twice as big
    assert decoded.page_size == (1600, 2400)
    assert decoded.scale == pytest.approx(1600 / decoded.pixels.shape[1])
    full = load_page(_encoded(page, fmt))
    assert full.pixels.shape == (2400, 1600, 3) and full.scale == 1.0


def test_a_broken_file_raises() -> None:
    with pytest.raises(Exception):  # noqa: B017 - Pillow raises several types
        load_rgb(b"\xff\xd8\xff\xe0 not a jpeg")
