"""The one page-image loader: bytes, a path or a file in, pixels out, at the size asked for.

Every engine that needs a page's pixels (panel detection, text, quality, the frozen encoders,
previews, the search page) decodes through here, so a page means the same picture everywhere:

- EXIF orientation applied (a phone photo of a page stands upright),
- transparency composited onto white (a transparent PNG page is not black),
- palette, CMYK and 16-bit modes turned into 8-bit RGB, or grey when the page is grey,
- optionally decoded smaller: ``max_side`` lets JPEG decode at 1/2, 1/4 or 1/8 scale through
  Pillow's ``draft`` (the DCT does the shrinking, for a fraction of a full decode) and other
  formats through ``reduce``; the result's longer side is at most ``max_side`` and at least
  half of it, never upscaled.

Sizes reported elsewhere (``pages.parquet``) come from the file header, upright (an EXIF quarter
turn swaps them, ``pages.images.image_layout``), the size these pixels have at full scale; an
engine that maps boxes back to page pixels uses :func:`page_scale` with the size it was given.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, ImageOps

ImageSource = bytes | str | Path | BinaryIO
Mode = Literal["RGB", "L", "keep"]


@dataclass(frozen=True)
class PageImage:
    """Decoded pixels and the factor from them back to the page's own size (1 at full size)."""

    pixels: np.ndarray  # H x W x 3 RGB, or H x W grey, uint8
    scale: float  # page pixels per decoded pixel (2.0 when decoded at half size)

    @property
    def page_size(self) -> tuple[int, int]:
        """(width, height) of the full page the pixels were decoded from."""
        h, w = self.pixels.shape[:2]
        return round(w * self.scale), round(h * self.scale)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, bytes | bytearray | memoryview):
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def _decode(source: ImageSource, max_side: int | None, mode: Mode) -> tuple[Image.Image, int]:
    """The normalised image and the upright page's full width (before any reduction)."""
    with _open(source) as image:
        # Pillow's TIFF reader reports (and loads) the upright size already
        turned = _rotated(image) and image.format != "TIFF"
        full_width = image.height if turned else image.width
        longest = max(image.size)
        if max_side is not None and longest > max_side and image.format == "JPEG":
            # draft picks the largest DCT scale (1/1 .. 1/8) that keeps both sides >= this
            request = (image.width * max_side // longest, image.height * max_side // longest)
            image.draft("L" if image.mode in ("L", "1") else "RGB", request)
        image.load()
        if max_side is not None and max(image.size) >= 2 * max_side:
            image = image.reduce(max(image.size) // max_side)
        if image.getexif().get(0x0112, 1) != 1:  # exif_transpose copies even an upright page
            image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        grey = image.mode in ("1", "L", "I;16", "I", "F")
        if mode == "L" or (mode == "keep" and grey):
            return image.convert("L"), full_width
        return image.convert("RGB"), full_width


def _rotated(image: Image.Image) -> bool:
    return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # orientations that swap w and h


def open_page(source: ImageSource, max_side: int | None = None, mode: Mode = "RGB") -> Image.Image:
    """The page as a loaded Pillow image (see the module docstring for what is normalised).

    ``mode="keep"`` keeps grey pages grey ("L") and makes everything else RGB.
    """
    return _decode(source, max_side, mode)[0]


def load_page(source: ImageSource, max_side: int | None = None, mode: Mode = "RGB") -> PageImage:
    """The page as a numpy array plus its scale back to full size; see :func:`open_page`."""
    image, full_width = _decode(source, max_side, mode)
    return PageImage(np.asarray(image), full_width / image.width)


def load_rgb(source: ImageSource, max_side: int | None = None) -> np.ndarray:
    """RGB uint8 pixels of a page (grey pages repeated into three channels)."""
    return np.asarray(_decode(source, max_side, "RGB")[0])


def page_scale(pixels: np.ndarray, width: int | None, height: int | None) -> tuple[float, float]:
    """Factors (x, y) from decoded pixels to the page size a table reports for it."""
    h, w = pixels.shape[:2]
    return (width / w if width else 1.0), (height / h if height else 1.0)
