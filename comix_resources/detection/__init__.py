"""Panel detection (plain Python, no Dagster): detectors, reading order, file runner."""

from comix_resources.detection.base import CATEGORY_IDS, Detection, Panel, PanelDetector
from comix_resources.detection.contour import ContourDetector
from comix_resources.detection.files import detect_files, load_image
from comix_resources.detection.order import reading_order

__all__ = [
    "CATEGORY_IDS",
    "ContourDetector",
    "Detection",
    "Panel",
    "PanelDetector",
    "detect_files",
    "load_image",
    "reading_order",
]
