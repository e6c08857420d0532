"""DataSpec: panels and page text joined per page, with text aligned to panels (no Dagster).

Modules: ``geometry`` (box arithmetic), ``align`` (text-to-panel assignment and the page
alignment verdict), ``build`` (``coco_to_dataspec`` over the lake tables), ``export`` (DataSpec
v0.3 JSON per page) and ``evaluate`` (scores against the demo library's ground truth).

Definitions used in the table:

- ``alignment_method``: ``geometry`` (text boxes placed by containment in detector panels),
  ``vlm_panels_iou`` (box-less VLM text follows its VLM panel, matched to detector panels by
  IoU with the Hungarian algorithm), ``count`` (VLM panel *k* = detector panel *k* in reading
  order) or ``none`` (no text, or none could be placed). A page that mixes methods is named
  after the one that placed most of its texts.
- ``text_panel_count``: the number of panels the VLM reported when there is a VLM answer (the
  original definition); for OCR, which knows no panels, the number of detector panels that
  received at least one text.
- ``is_perfect_match``: ``text_panel_count == detector_panel_count``, kept for comparison with
  the original 23.5 %. For OCR it means "every detected panel carries text", which silent
  panels make rare: it is not what training should filter on.
- ``is_aligned``: the text-to-panel assignment can be trusted, which training filters on: at
  least 90 % of the page's texts were placed reliably (a clear-cut geometric decision:
  at least half inside one panel, or at most 10 % inside any panel, i.e. page-level text,
  unless it is dialogue, whose panel the detector must have missed; a VLM panel matched
  with IoU >= 0.3; or count pairing with equal counts). A page without text is aligned when
  it has panels.
- ``alignment_score`` (0..1): the mean per-text confidence: containment for texts assigned by
  geometry, one minus it for texts left outside, the IoU of the VLM panel match, 1 for count
  pairing with equal counts (0 otherwise), 0 for texts not placed. Null without text.
- ``text_coverage``: share of detector panels with at least one text.
- ``quality_score`` (0..4, the original): +2 for a panel ratio within 0.9-1.1, else +1 within
  0.8-1.2; +1 for text coverage >= 0.8; +1 for 1-15 detector panels.
"""

from comix_resources.dataspec.align import (
    AlignmentConfig,
    Assignment,
    PageAlignment,
    TextRef,
    VlmPanelRef,
    align_page,
    assign_text_to_panels,
    count_pairing,
    quality_score,
)
from comix_resources.dataspec.build import DATASPEC_SCHEMA, build_page, coco_to_dataspec
from comix_resources.dataspec.evaluate import evaluate_against_truth, panel_metrics
from comix_resources.dataspec.export import (
    DATASPEC_VERSION,
    export_dataspec_json,
    to_dataspec_v03,
)

__all__ = [
    "DATASPEC_SCHEMA",
    "DATASPEC_VERSION",
    "AlignmentConfig",
    "Assignment",
    "PageAlignment",
    "TextRef",
    "VlmPanelRef",
    "align_page",
    "assign_text_to_panels",
    "build_page",
    "coco_to_dataspec",
    "count_pairing",
    "evaluate_against_truth",
    "export_dataspec_json",
    "panel_metrics",
    "quality_score",
    "to_dataspec_v03",
]
