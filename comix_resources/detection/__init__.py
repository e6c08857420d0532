"""Panel detection (plain Python, no Dagster): detectors, reading order, file runner."""

from typing import Any

from comix_resources.detection.base import CATEGORY_IDS, Detection, Panel, PanelDetector
from comix_resources.detection.coco import detections_to_coco, detections_to_rows, panels_schema
from comix_resources.detection.contour import ContourDetector
from comix_resources.detection.fasterrcnn import FasterRCNNDetector
from comix_resources.detection.files import detect_files, load_image
from comix_resources.detection.order import reading_order

# Importing FasterRCNNDetector is cheap: torch loads when one is constructed.
DETECTORS: dict[str, type[ContourDetector] | type[FasterRCNNDetector]] = {
    ContourDetector.name: ContourDetector,
    FasterRCNNDetector.name: FasterRCNNDetector,
}


LEARNED = "learned"


def make_detector(name: str, **options: Any) -> PanelDetector:
    """The detector called ``name``, built with its keyword ``options``.

    "contour" takes ContourDetector's tunables; "fasterrcnn" needs
    ``checkpoint=PATH`` and takes FasterRCNNDetector's other options; "learned" needs
    ``folder=PATH`` (a model folder; the MLflow champion is found by ``detection.registry``).
    """
    if name == LEARNED:
        from comix_resources.detection.learned import LearnedDetector

        if options.get("folder") is None:
            raise ValueError("the learned detector needs folder=PATH (a model folder)")
        return LearnedDetector.load(options["folder"])
    if name not in DETECTORS:
        valid = ", ".join(sorted([*DETECTORS, LEARNED]))
        raise ValueError(f"unknown detector {name!r}; valid names: {valid}")
    if name == FasterRCNNDetector.name and options.get("checkpoint") is None:
        raise ValueError("the fasterrcnn detector needs checkpoint=PATH (a .pth state_dict)")
    return DETECTORS[name](**options)


__all__ = [
    "CATEGORY_IDS",
    "DETECTORS",
    "LEARNED",
    "ContourDetector",
    "Detection",
    "FasterRCNNDetector",
    "Panel",
    "PanelDetector",
    "detect_files",
    "detections_to_coco",
    "detections_to_rows",
    "load_image",
    "make_detector",
    "panels_schema",
    "reading_order",
]
