"""Run a detector over image files and print-ready results (Kumiko's JSON shape)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from natsort import natsorted

from comix_resources.detection.base import PanelDetector
from comix_resources.images import load_page

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def load_image(path: Path | BinaryIO) -> np.ndarray:
    """An image file as the detectors take it: RGB (or grey) uint8, upright, transparency onto
    white (``comix_resources.images``, the one page loader)."""
    return load_page(path, mode="keep").pixels


def iter_image_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The given files, with each directory expanded to its images in natural order."""
    for path in map(Path, paths):
        if path.is_dir():
            images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            yield from natsorted(images, key=lambda p: p.name)
        else:
            yield path


def detect_files(paths: Sequence[Path], detector: PanelDetector, rtl: bool = False) -> list[dict]:
    """``[{"file", "size": [w, h], "panels": [[x, y, w, h], ...]}]`` in reading order.

    Only regions of category "panel" are listed: Kumiko's shape has no room for
    the characters, text and faces that a Faster R-CNN also finds.
    """
    results: list[dict] = []
    for path in iter_image_files(paths):
        detection = detector.detect(load_image(path), rtl=rtl)
        results.append(
            {
                "file": str(path),
                "size": [detection.width, detection.height],
                "panels": [
                    list(panel.bbox) for panel in detection.panels if panel.category == "panel"
                ],
            }
        )
    return results
