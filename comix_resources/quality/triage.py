"""Triage: is a page confidently not a comic, before any text is read?

The same features as the non-comic filter (``classify``), measured before the text cascade:
brightness, ink, edges and saturation from the pixels, the panel layout from the detector,
and text boxes from the OCR's detection stage alone (its lines grouped into blocks the way
recognised lines are, so a prose page covers about the area its paragraphs will). A page is
``non_comic`` only when a non-comic rule holds with a margin on every threshold that text
boxes feed (detection alone sees a little more or less text than detection plus reading);
``comic`` when no rule comes near; ``unsure`` otherwise. Only ``non_comic`` pages skip
engines: an ``unsure`` page is read in full and judged by ``page_quality`` as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from comix_resources.quality.classify import (
    BLANK,
    TEXT_PAGE,
    VERY_DARK,
    QualityThresholds,
    classify_page,
)

NON_COMIC = "non_comic"
COMIC = "comic"
UNSURE = "unsure"
TRIAGE_VERSION = "t1"  # part of the text cascade's signature: a change re-reads pages

# How far inside the text_page rule detection-only features must be to trust it.
TEXT_AREA_MARGIN = 1.25  # text area at least 1.25x the rule's minimum
ART_MARGIN = 0.75  # drawing outside text at most 3/4 of the rule's maximum
SATURATION_MARGIN = 0.75


@dataclass(frozen=True)
class Triage:
    verdict: str  # NON_COMIC | COMIC | UNSURE
    flag: str | None  # the non-comic flag behind a NON_COMIC or UNSURE verdict
    reason: str  # one sentence with the numbers, for the page_text row


def triage_page(
    features: Mapping[str, float | int | str],
    text_lines: int,
    thresholds: QualityThresholds | None = None,
) -> Triage:
    """The verdict for one page's detection-only ``page_features`` (``text_lines``: the
    number of lines the OCR's detection found, reported in the reason)."""
    t = thresholds or QualityThresholds()
    _, flags, reasons = classify_page(features, t)
    density = f"{text_lines} text line(s) detected"
    for flag in (VERY_DARK, BLANK):  # pixel rules: nothing the text stage reads changes them
        if flag in flags:
            return Triage(NON_COMIC, flag, f"{flag}: {reasons[flag]}; {density}")
    f = {k: v for k, v in features.items() if not isinstance(v, str)}
    if TEXT_PAGE in flags:
        confident = (
            f["text_area_fraction"] >= TEXT_AREA_MARGIN * t.text_page_min_text_area
            and f["art_fraction"] <= ART_MARGIN * t.text_page_max_art
            and f["saturation"] <= SATURATION_MARGIN * t.text_page_max_saturation
        )
        verdict = NON_COMIC if confident else UNSURE
        return Triage(verdict, TEXT_PAGE, f"{TEXT_PAGE}: {reasons[TEXT_PAGE]}; {density}")
    near_text_page = (
        f["text_area_fraction"] >= t.text_page_min_text_area / TEXT_AREA_MARGIN
        and f["art_fraction"] <= t.text_page_max_art / ART_MARGIN
        and f["saturation"] <= t.text_page_max_saturation / SATURATION_MARGIN
        and f["panel_count"] <= t.text_page_max_panels
    )
    if near_text_page:
        return Triage(UNSURE, TEXT_PAGE, f"close to the text_page rule; {density}")
    return Triage(COMIC, None, f"comic features; {density}")
