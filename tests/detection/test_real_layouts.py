"""The contour detector on the layouts of real pages that the tidy demo pages lack."""

from __future__ import annotations

import cv2
import numpy as np

from comix_resources.boxes import iou
from comix_resources.detection import ContourDetector
from comix_resources.detection.synthetic import box_polygon, draw_balloon, draw_page

SIZE = (1000, 1500)
BLACK = (20, 20, 20)


def _boxes(page: np.ndarray, page_type: str | None = None) -> list[tuple[int, int, int, int]]:
    detection = ContourDetector().detect(page, page_type=page_type)
    return [] if detection.whole_page and page_type is None else [p.bbox for p in detection.panels]


def _text_lines(
    page: np.ndarray, x0: int, y0: int, x1: int, y1: int, step: int = 28, glyph: int = 14
) -> None:
    """Rows of glyph-sized marks, as lettering looks to the detector."""
    for y in range(y0, y1, step):
        for x in range(x0, x1 - glyph, glyph + 6):
            cv2.rectangle(page, (x, y), (x + glyph * 5 // 7, y + glyph), BLACK, -1)


def test_caption_box_above_its_art_is_one_panel() -> None:
    # Two panels side by side, each a boxed caption 6 px above its framed art; gutters 40 px.
    page = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    truth = []
    for x in (60, 520):
        cv2.rectangle(page, (x, 100), (x + 420, 180), BLACK, 3)
        _text_lines(page, x + 15, 115, x + 400, 170)
        art = draw_page([box_polygon(x, 186, 421, 600)], SIZE, seed=x)
        page[186:786, x : x + 421] = art[186:786, x : x + 421]
        truth.append((x, 100, 421, 686))
    found = _boxes(page)
    assert len(found) == 2, found
    assert all(max(iou(f, t) for f in found) >= 0.9 for t in truth)


def test_prose_page_has_no_panel() -> None:
    page = np.full((SIZE[1], SIZE[0], 3), (238, 228, 200), np.uint8)
    _text_lines(page, 200, 60, 800, 160, step=60, glyph=44)  # the story's title
    _text_lines(page, 70, 300, 470, 1200)
    _text_lines(page, 530, 300, 930, 1000)
    detection = ContourDetector().detect(page)
    assert detection.whole_page  # "no panel layout here"


def test_title_line_on_the_margin_is_not_a_panel() -> None:
    boxes = [(60, 200, 880, 600), (60, 830, 880, 600)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    _text_lines(page, 300, 40, 700, 160, step=60, glyph=40)  # a title above the panels
    found = _boxes(page)
    assert len(found) == 2 and all(iou(f, t) >= 0.9 for f, t in zip(found, boxes, strict=True))


def test_open_frame_closes_and_stays_one_panel() -> None:
    # The top panel's left side is missing: its art is paper-white there, open to the gutter.
    boxes = [(60, 80, 880, 640), (60, 760, 880, 660)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    page[86:714, 56:200] = 255  # erase the left frame line and the art beside it
    cv2.line(page, (200, 300), (200, 500), BLACK, 3)  # a figure's outline in the white
    draw_balloon(page, (220, 120, 400, 160), np.random.default_rng(1))
    found = _boxes(page)
    assert len(found) == 2, found
    assert iou(found[0], boxes[0]) >= 0.8 and iou(found[1], boxes[1]) >= 0.9


def test_balloon_across_the_vertical_gutter_beside_a_tall_panel() -> None:
    # A narrow tall panel beside two stacked ones, a balloon across the vertical gutter: the
    # row gutter of the stacked pair must not cut the tall panel.
    tall, top, bottom = (60, 80, 300, 1340), (400, 80, 540, 650), (400, 770, 540, 650)
    page = draw_page([box_polygon(*b) for b in (tall, top, bottom)], SIZE)
    draw_balloon(page, (280, 300, 200, 140), np.random.default_rng(2))
    found = _boxes(page)
    assert len(found) == 3, found
    assert all(max(iou(f, t) for f in found) >= 0.85 for t in (tall, top, bottom))


def test_cover_is_one_panel_whatever_its_boxes() -> None:
    boxes = [(40, 40, 920, 1420), (80, 80, 200, 260), (600, 1000, 300, 300)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    detection = ContourDetector().detect(page, page_type="cover")
    assert len(detection.panels) == 1
    assert iou(detection.panels[0].bbox, boxes[0]) >= 0.95


def test_pinwheel_with_balloons_across_its_gutters_is_every_panel() -> None:
    # No straight gutter crosses a pinwheel, and two balloons join its outer panels: the
    # gutters are cut through the balloons where they resume on the far side.
    boxes = [
        (60, 80, 540, 420),  # top left, wide
        (640, 80, 300, 820),  # top right, tall
        (400, 940, 540, 480),  # bottom right, wide
        (60, 540, 300, 880),  # bottom left, tall
        (400, 540, 200, 360),  # the centre
    ]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    draw_balloon(page, (540, 200, 160, 90), np.random.default_rng(3))  # top left / top right
    draw_balloon(page, (300, 1150, 160, 90), np.random.default_rng(4))  # bottom left / right
    found = _boxes(page)
    assert len(found) == 5, found
    assert all(max(iou(f, t) for f in found) >= 0.85 for t in boxes)


def test_a_wide_panel_under_a_tier_is_not_cut_along_the_tier_gutters() -> None:
    # The tier's gutters stop at the wide panel and resume in the tier below; the wide panel
    # is as tall as those gutters are long, so it is a panel across them, not a balloon.
    tier = [(60 + i * 300, 80, 280, 300) for i in range(3)]
    wide = (60, 400, 880, 260)
    lower = [(60 + i * 300, 680, 280, 300) for i in range(3)]
    page = draw_page([box_polygon(*b) for b in (*tier, wide, *lower)], SIZE)
    draw_balloon(page, (300, 330, 140, 100), np.random.default_rng(5))  # tier / wide panel
    draw_balloon(page, (620, 610, 140, 100), np.random.default_rng(6))  # wide / lower tier
    found = _boxes(page)
    assert max(iou(f, wide) for f in found) >= 0.85, found
    assert len(found) == 7, found
