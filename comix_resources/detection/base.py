"""Result types shared by every panel detector, and the detector protocol."""

from __future__ import annotations

from dataclasses import dataclass
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
    """What the pipeline needs from a detector (contour now, fasterrcnn later)."""

    name: str

    def detect(self, image: np.ndarray | Image.Image, rtl: bool = False) -> Detection: ...
