"""Page quality: cheap image features and the non-comic filter (plain Python, no Dagster).

``page_features(image, text_boxes, panel_count)`` measures a page (``features``);
``classify_page(features)`` returns ``(is_comic, flags, reasons)`` with thresholds from
``QualityThresholds`` (``classify``). The triage that runs before the text cascade
(``triage_page``, ``triage``), the image measures it shares with the page-quality table
(``measure_image``, ``text_features``, ``panel_art_shares``) and ``picture_panel_count`` are
what the text stage uses.
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
from comix_resources.quality.features import (
    ImageMeasures,
    measure_image,
    page_features,
    panel_art_shares,
    text_features,
)
from comix_resources.quality.table import picture_panel_count
from comix_resources.quality.triage import NON_COMIC, TRIAGE_VERSION, Triage, triage_page

__all__ = [
    "BLANK",
    "NON_COMIC",
    "NON_COMIC_FLAGS",
    "SPREAD",
    "TEXT_PAGE",
    "TRIAGE_VERSION",
    "VERY_DARK",
    "ImageMeasures",
    "QualityThresholds",
    "Triage",
    "classify_page",
    "measure_image",
    "page_features",
    "panel_art_shares",
    "picture_panel_count",
    "text_features",
    "triage_page",
]
