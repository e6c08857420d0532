"""Triage before text: confident non-comic verdicts only, and picture panels need drawing."""

from __future__ import annotations

from comix_resources.quality.table import picture_panel_count
from comix_resources.quality.triage import COMIC, NON_COMIC, UNSURE, triage_page

COMIC_PAGE = {
    "width": 800,
    "height": 1200,
    "aspect_ratio": 0.67,
    "orientation": "portrait",
    "mean_brightness": 0.6,
    "brightness_std": 0.3,
    "ink_coverage": 0.3,
    "edge_density": 0.12,
    "saturation": 0.35,
    "text_area_fraction": 0.06,
    "art_fraction": 0.5,
    "text_box_count": 8,
    "panel_count": 5,
}
PROSE_PAGE = {
    **COMIC_PAGE,
    "mean_brightness": 0.95,
    "brightness_std": 0.15,
    "saturation": 0.003,
    "text_area_fraction": 0.4,
    "art_fraction": 0.004,
    "panel_count": 0,
}


def test_comic_prose_dark_and_borderline_pages() -> None:
    assert triage_page(COMIC_PAGE, 20).verdict == COMIC
    prose = triage_page(PROSE_PAGE, 35)
    assert (prose.verdict, prose.flag) == (NON_COMIC, "text_page")
    assert "35 text line(s)" in prose.reason
    dark = {**COMIC_PAGE, "mean_brightness": 0.05, "brightness_std": 0.02}
    assert triage_page(dark, 0).verdict == NON_COMIC
    # just inside the rule: detection alone could be off, so the page is read in full
    edge = {**PROSE_PAGE, "text_area_fraction": 0.21}
    assert triage_page(edge, 20).verdict == UNSURE
    near = {**PROSE_PAGE, "text_area_fraction": 0.18}
    assert triage_page(near, 20).verdict == UNSURE


def test_a_framed_listing_without_drawing_is_no_picture_panel() -> None:
    panels = [[0, 0, 100, 100], [0, 100, 100, 100]]
    text = [[0, 0, 100, 30]]  # covers 30 % of the first box, none of the second
    assert picture_panel_count(panels, text) == 2
    assert picture_panel_count(panels, text, [0.001, 0.4]) == 1
