"""Cheap per-page image features for the non-comic filter (plain numpy/OpenCV, no Dagster).

The page is shrunk so its longer side is at most ``ANALYSIS_SIDE`` pixels first: every feature
here is a share of the page (coverage, density, fraction), which a 512 px thumbnail measures
as well as the full scan, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

ANALYSIS_SIDE = 512
INK_LEVEL = 0.55  # grey level (0..1) below which a pixel counts as ink on a light page
SPREAD_ASPECT = 1.2  # width / height above which a page is landscape
SQUARE_TOLERANCE = 0.05

BoxLike = Sequence[float]  # x, y, w, h in page pixels


def _as_rgb(image: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:  # transparency was composited upstream; drop the channel
        image = image[:, :, :3]
    return np.ascontiguousarray(image, dtype=np.uint8)


def _shrink(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = ANALYSIS_SIDE / max(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _text_mask(
    boxes: Sequence[BoxLike], width: int, height: int, shape: tuple[int, int]
) -> np.ndarray:
    """The union of the text boxes on the thumbnail grid (overlapping boxes count once)."""
    mask = np.zeros(shape, dtype=bool)
    sy, sx = shape[0] / height, shape[1] / width
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(x * sx)), max(0, int(y * sy))
        x1, y1 = (
            min(shape[1], int(np.ceil((x + w) * sx))),
            min(shape[0], int(np.ceil((y + h) * sy))),
        )
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask


@dataclass(frozen=True)
class ImageMeasures:
    """What a page's pixels say before any text is known: the features that need no text
    boxes, and the drawing mask (edges or ink) on the thumbnail grid, so that the features
    that do need text boxes can be finished later without decoding the page again."""

    width: int
    height: int
    features: dict[str, float | int | str]
    art_mask: np.ndarray  # bool, thumbnail grid

    def packed(self) -> tuple[int, int, dict[str, float | int | str], tuple[int, ...], bytes]:
        """A compact, picklable form (the mask as bits) for passing between processes."""
        return (
            self.width,
            self.height,
            self.features,
            self.art_mask.shape,
            np.packbits(self.art_mask).tobytes(),
        )

    @classmethod
    def unpacked(
        cls, data: tuple[int, int, dict[str, float | int | str], tuple[int, ...], bytes]
    ) -> ImageMeasures:
        width, height, features, shape, bits = data
        count = int(np.prod(shape))
        mask = np.unpackbits(np.frombuffer(bits, np.uint8), count=count).astype(bool)
        return cls(width, height, features, mask.reshape(shape))


def measure_image(
    image: np.ndarray | Image.Image, page_size: tuple[int, int] | None = None
) -> ImageMeasures:
    """The text-free part of ``page_features``; ``page_size`` is the page's (width, height)
    when ``image`` was decoded smaller (the loader's reduced decode)."""
    rgb = _as_rgb(image)
    width, height = page_size or (rgb.shape[1], rgb.shape[0])
    small = _shrink(rgb)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    level = grey.astype(np.float32) / 255.0
    ink = level < INK_LEVEL
    edges = cv2.Canny(grey, 60, 160) > 0
    saturation = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[:, :, 1].astype(np.float32) / 255.0
    # Edges are dilated so the strokes of one drawing fill an area, as ink does for solid art.
    art = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) | ink
    aspect = width / height
    if abs(aspect - 1) <= SQUARE_TOLERANCE:
        orientation = "square"
    else:
        orientation = "landscape" if aspect > 1 else "portrait"
    return ImageMeasures(
        width,
        height,
        {
            "width": width,
            "height": height,
            "aspect_ratio": aspect,
            "orientation": orientation,
            "mean_brightness": float(level.mean()),
            "brightness_std": float(level.std()),
            "ink_coverage": float(ink.mean()),
            "edge_density": float(edges.mean()),
            "saturation": float(saturation.mean()),
        },
        art,
    )


def text_features(
    measures: ImageMeasures, text_boxes: Sequence[BoxLike], panel_count: int
) -> dict[str, float | int | str]:
    """``page_features`` from a page's ``measure_image`` and its text boxes (page pixels)."""
    text = _text_mask(text_boxes, measures.width, measures.height, measures.art_mask.shape)
    return {
        **measures.features,
        "text_area_fraction": float(text.mean()),
        "art_fraction": float((measures.art_mask & ~text).mean()),
        "text_box_count": len(text_boxes),
        "panel_count": int(panel_count),
    }


def panel_art_shares(
    measures: ImageMeasures, text_boxes: Sequence[BoxLike], panels: Sequence[BoxLike]
) -> list[float]:
    """For each panel box (page pixels), the share of it that is drawing outside the text
    boxes: a comic panel is mostly drawing, a framed code listing or paragraph almost none."""
    shape = measures.art_mask.shape
    drawing = measures.art_mask & ~_text_mask(text_boxes, measures.width, measures.height, shape)
    sy, sx = shape[0] / measures.height, shape[1] / measures.width
    shares = []
    for x, y, w, h in panels:
        window = drawing[
            max(0, int(y * sy)) : max(1, int(np.ceil((y + h) * sy))),
            max(0, int(x * sx)) : max(1, int(np.ceil((x + w) * sx))),
        ]
        shares.append(float(window.mean()) if window.size else 0.0)
    return shares


def page_features(
    image: np.ndarray | Image.Image, text_boxes: Sequence[BoxLike], panel_count: int
) -> dict[str, float | int | str]:
    """Features of one page. ``text_boxes`` are OCR boxes ``[x, y, w, h]`` in page pixels.

    Keys: ``width``, ``height``, ``aspect_ratio`` (w / h), ``orientation`` (portrait,
    landscape, square), ``mean_brightness`` and ``brightness_std`` (grey, 0..1),
    ``ink_coverage`` (share of dark pixels), ``edge_density`` (share of Canny edge pixels),
    ``saturation`` (mean HSV saturation, 0..1: prose pages are grey, art is coloured),
    ``text_area_fraction`` (union of the text boxes over the page), ``art_fraction`` (share of
    the page with edges or ink outside the text boxes, i.e. drawing rather than lettering),
    ``text_box_count`` and ``panel_count``.
    """
    return text_features(measure_image(image), text_boxes, panel_count)
