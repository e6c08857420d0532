"""Result types shared by every panel detector, and the detector protocol."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

# The CoMix benchmark's label map; contour only ever emits "panel".
CATEGORY_IDS: dict[str, int] = {"panel": 1, "character": 2, "text": 4, "face": 7}

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Panel:
    """One detected region: ``bbox`` is ``(x, y, w, h)`` in page pixels."""

    bbox: Box
    score: float
    order: int
    category: str = "panel"


@dataclass(frozen=True)
class Detection:
    """Everything a detector found on one page, panels in reading order."""

    width: int
    height: int
    panels: tuple[Panel, ...]
    detector: str
    detector_version: str
    whole_page: bool


@runtime_checkable
class PanelDetector(Protocol):
    """What the pipeline needs from a detector.

    ``page_type`` is what the page-type step says of the page, when it has spoken: a
    ``"cover"`` is one panel by convention, whatever boxes its art holds.
    """

    name: str

    def detect(
        self, image: np.ndarray | Image.Image, rtl: bool = False, page_type: str | None = None
    ) -> Detection: ...


COVER = "cover"


def one_panel(detection: Detection) -> Detection:
    """The detection as a single panel: the box around every panel found (a cover's art,
    title box and corner boxes are one picture by convention), the page if none was."""
    panels = [p for p in detection.panels if p.category == "panel"]
    others = tuple(p for p in detection.panels if p.category != "panel")
    if not panels or detection.whole_page:
        box, score = (0, 0, detection.width, detection.height), 0.0
    else:
        x0 = min(p.bbox[0] for p in panels)
        y0 = min(p.bbox[1] for p in panels)
        x1 = max(p.bbox[0] + p.bbox[2] for p in panels)
        y1 = max(p.bbox[1] + p.bbox[3] for p in panels)
        box, score = (x0, y0, x1 - x0, y1 - y0), max(p.score for p in panels)
    return replace(detection, panels=(Panel(bbox=box, score=score, order=0), *others))


def as_uint8(image: np.ndarray | Image.Image) -> np.ndarray:
    """An HxW or HxWx3 uint8 array; transparency is composited onto white paper."""
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(paper, rgba)
        image = image.convert("L") if image.mode in ("1", "L", "I", "I;16", "F") else image
        image = image if image.mode == "L" else image.convert("RGB")
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        top = 65535 if pixels.dtype == np.uint16 else 255 if pixels.max() > 1 else 1
        pixels = (pixels.astype(np.float32) * (255 / top)).clip(0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = pixels[:, :, 3:].astype(np.float32) / 255
        pixels = (pixels[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected a grey, RGB or RGBA image, got shape {pixels.shape}")
    return np.ascontiguousarray(pixels)
