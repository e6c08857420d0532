"""The non-comic filter: flags with a reason each, and an ``is_comic`` verdict.

Flags ``text_page``, ``blank`` and ``very_dark`` make a page non-comic. ``spread`` only
describes the page: a landscape double page is a comic page that training may want to split.

Comic pages with a lot of lettering (credits, advertisements, text stories, which the demo
library's truth and the CoSMo page types count as comic) must not be caught as book text. What
sets a book's text page apart is that its ink is lettering and nothing else: little drawing
outside the text boxes (``art_fraction``), and at most one "panel" (a code listing or a
framed figure looks like one to a contour detector). A text story carries an illustration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TEXT_PAGE = "text_page"
BLANK = "blank"
VERY_DARK = "very_dark"
SPREAD = "spread"
NON_COMIC_FLAGS = (TEXT_PAGE, BLANK, VERY_DARK)


@dataclass(frozen=True)
class QualityThresholds:
    # text_page: a fifth of the page under text boxes (demo book pages 0.31-0.35, comic
    # pages other than text stories at most 0.13) ...
    text_page_min_text_area: float = 0.2
    # ... and almost no drawing outside them (book pages 0.03, text stories from 0.08) ...
    text_page_max_art: float = 0.055
    # ... and no real panel layout ...
    text_page_max_panels: int = 1
    # ... and grey: a printed book page has no colour, while a comic's text story or
    # credits page sits on tinted paper or beside coloured art (demo book pages 0.0, text
    # stories 0.10-0.13, credits 0.07; OCR boxes of a text story can swallow its picture).
    text_page_max_saturation: float = 0.04
    # very_dark: a nearly black, nearly uniform page (comic pages from 0.28 mean).
    very_dark_max_brightness: float = 0.15
    very_dark_max_std: float = 0.08
    # blank: nearly uniform with (almost) no edges, whatever the paper colour.
    blank_max_std: float = 0.03
    blank_max_edge_density: float = 0.002
    blank_max_text_area: float = 0.005
    # spread: landscape (width / height).
    spread_min_aspect: float = 1.2


def classify_page(
    features: Mapping[str, float | int | str], thresholds: QualityThresholds | None = None
) -> tuple[bool, list[str], dict[str, str]]:
    """``(is_comic, flags, reasons)`` for one page's ``page_features``.

    ``reasons`` maps each flag to a sentence with the numbers that raised it, for people
    reading a check report. ``very_dark`` wins over ``blank`` for a uniform black page.
    """
    t = thresholds or QualityThresholds()
    f = {k: v for k, v in features.items() if not isinstance(v, str)}
    reasons: dict[str, str] = {}
    if (
        f["text_area_fraction"] >= t.text_page_min_text_area
        and f["art_fraction"] <= t.text_page_max_art
        and f["panel_count"] <= t.text_page_max_panels
        and f["saturation"] <= t.text_page_max_saturation
    ):
        reasons[TEXT_PAGE] = (
            f"text boxes cover {f['text_area_fraction']:.0%} of the page "
            f"(>= {t.text_page_min_text_area:.0%}) with only {f['art_fraction']:.1%} drawing "
            f"outside them (<= {t.text_page_max_art:.1%}), {f['panel_count']} panel(s) and "
            f"colour saturation {f['saturation']:.2f} (<= {t.text_page_max_saturation:.2f})"
        )
    if (
        f["mean_brightness"] <= t.very_dark_max_brightness
        and f["brightness_std"] <= t.very_dark_max_std
    ):
        reasons[VERY_DARK] = (
            f"mean brightness {f['mean_brightness']:.2f} (<= {t.very_dark_max_brightness:.2f}) "
            f"with contrast {f['brightness_std']:.3f} (<= {t.very_dark_max_std:.3f})"
        )
    elif (
        f["brightness_std"] <= t.blank_max_std
        and f["edge_density"] <= t.blank_max_edge_density
        and f["text_area_fraction"] <= t.blank_max_text_area
    ):
        reasons[BLANK] = (
            f"uniform page: contrast {f['brightness_std']:.3f} (<= {t.blank_max_std:.3f}), "
            f"edge density {f['edge_density']:.4f} (<= {t.blank_max_edge_density:.4f}), "
            f"text area {f['text_area_fraction']:.1%}"
        )
    if f["aspect_ratio"] >= t.spread_min_aspect:
        reasons[SPREAD] = (
            f"landscape page, width/height {f['aspect_ratio']:.2f} "
            f"(>= {t.spread_min_aspect:.2f}): likely a double-page spread"
        )
    flags = list(reasons)
    return not any(flag in NON_COMIC_FLAGS for flag in flags), flags, reasons
