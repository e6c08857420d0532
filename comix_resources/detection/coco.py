"""Detections as COCO JSON (for pycocotools and CoMix's evaluators) and as table rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from comix_resources.detection.base import CATEGORY_IDS, Detection

if TYPE_CHECKING:
    import polars as pl

# CoMix's category list, ids as in its benchmark files (so 3, 5 and 6 stay unused).
COCO_CATEGORIES: list[dict[str, Any]] = [
    {"id": category_id, "name": name} for name, category_id in CATEGORY_IDS.items()
]


def detections_to_coco(pages: Sequence[tuple[str, str, Detection]]) -> dict[str, Any]:
    """A COCO dict of ``(page_id, file_name, detection)`` triples.

    Image ids count 1.. in the order given and annotation ids 1.. across all
    pages, so the same pages give the same file.  Annotations keep the
    detector's ``score`` and reading ``order``, so the dict also serves as a
    result list (``COCO.loadRes(coco["annotations"])``).  A page without panels
    carries the detector's whole-page panel (score 0) and ``whole_page`` True
    on its image entry.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (page_id, file_name, detection) in enumerate(pages, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": detection.width,
                "height": detection.height,
                "page_id": page_id,
                "whole_page": detection.whole_page,
            }
        )
        for panel in detection.panels:
            x, y, w, h = panel.bbox
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": CATEGORY_IDS[panel.category],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                    "score": panel.score,
                    "order": panel.order,
                }
            )
    return {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}


def detections_to_rows(pages: Iterable[tuple[str, Detection]]) -> list[dict[str, Any]]:
    """One row per detected region of ``(page_id, detection)`` pairs, see ``panels_schema``."""
    return [
        {
            "page_id": page_id,
            "category": panel.category,
            "category_id": CATEGORY_IDS[panel.category],
            "bbox": list(panel.bbox),
            "score": float(panel.score),
            "order": panel.order,
            "detector": detection.detector,
            "detector_version": detection.detector_version,
        }
        for page_id, detection in pages
        for panel in detection.panels
    ]


def panels_schema() -> dict[str, pl.DataType]:
    """Polars schema of ``detections_to_rows`` (the ``panels`` table), so that an empty table
    keeps its columns."""
    from comix_resources.tables import PANELS

    return dict(PANELS.schema)
