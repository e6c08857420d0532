"""Page quality: cheap image features and the non-comic filter (plain Python, no Dagster).

``page_features(image, text_boxes, panel_count)`` measures a page (``features``);
``classify_page(features)`` returns ``(is_comic, flags, reasons)`` with thresholds from
``QualityThresholds`` (``classify``).
"""

from comix_resources.quality.classify import (
    BLANK,
    NON_COMIC_FLAGS,
    SPREAD,
    TEXT_PAGE,
    VERY_DARK,
    QualityThresholds,
    classify_page,
)
from comix_resources.quality.features import page_features

__all__ = [
    "BLANK",
    "NON_COMIC_FLAGS",
    "SPREAD",
    "TEXT_PAGE",
    "VERY_DARK",
    "QualityThresholds",
    "classify_page",
    "page_features",
]
