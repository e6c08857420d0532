"""The offline contour detector on synthetic pages with known panels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from comix_resources.boxes import iou
from comix_resources.detection import ContourDetector, Detection, PanelDetector
from comix_resources.detection.synthetic import box_polygon, draw_balloon, draw_page, scan_like

SIZE = (1000, 1500)


def _detect(page: np.ndarray, rtl: bool = False) -> Detection:
    return ContourDetector().detect(page, rtl=rtl)


def _assert_matches(
    detection: Detection, expected: list[tuple[int, int, int, int]], threshold: float = 0.9
) -> None:
    """Exactly the expected panels, in the expected (reading) order."""
    found = [panel.bbox for panel in detection.panels]
    assert len(found) == len(expected), found
    for got, want in zip(found, expected, strict=True):
        assert iou(got, want) >= threshold, (got, want)
    assert [panel.order for panel in detection.panels] == list(range(len(found)))


def test_is_a_panel_detector() -> None:
    detector = ContourDetector()
    assert isinstance(detector, PanelDetector)
    assert detector.name == "contour"


def test_three_by_three_grid() -> None:
    boxes = [(60 + c * 300, 80 + r * 450, 280, 420) for r in range(3) for c in range(3)]
    detection = _detect(draw_page([box_polygon(*b) for b in boxes], SIZE))
    _assert_matches(detection, boxes)
    assert detection.whole_page is False
    assert all(0 < panel.score <= 1 for panel in detection.panels)


def test_three_by_three_grid_right_to_left() -> None:
    boxes = [(60 + c * 300, 80 + r * 450, 280, 420) for r in range(3) for c in range(3)]
    detection = _detect(draw_page([box_polygon(*b) for b in boxes], SIZE), rtl=True)
    rtl_order = [boxes[r * 3 + c] for r in range(3) for c in (2, 1, 0)]
    _assert_matches(detection, rtl_order)


def test_tall_panel_left_is_read_before_three_stacked_right() -> None:
    tall = (60, 80, 400, 1340)
    stacked = [(490, 80 + i * 455, 450, 430) for i in range(3)]
    page = draw_page([box_polygon(*b) for b in [*stacked, tall]], SIZE)
    _assert_matches(_detect(page), [tall, *stacked])


def test_wide_top_panel_over_two_by_two() -> None:
    boxes = [(60, 80, 880, 400)] + [
        (60 + c * 450, 510 + r * 460, 430, 440) for r in range(2) for c in range(2)
    ]
    _assert_matches(_detect(draw_page([box_polygon(*b) for b in boxes], SIZE)), boxes)


def test_irregular_slanted_and_unequal_gutters() -> None:
    # Tier 1: a slanted gutter (no straight vertical line separates the panels).
    # Tier 2: three panels with gutters of 12 and 40 px. Tier 3: slanted top edge.
    polygons = [
        [(60, 80), (560, 80), (460, 560), (60, 560)],
        [(590, 80), (940, 80), (940, 560), (490, 560)],
        box_polygon(60, 590, 300, 380),
        box_polygon(372, 590, 250, 380),
        box_polygon(662, 590, 278, 380),
        [(60, 1020), (940, 1000), (940, 1420), (60, 1420)],
    ]
    expected = [cv2.boundingRect(np.array(p, np.int32)) for p in polygons]
    _assert_matches(_detect(draw_page(polygons, SIZE)), expected, threshold=0.85)


def test_framed_splash_page_is_one_panel_not_the_whole_page() -> None:
    splash = (50, 60, 900, 1380)
    detection = _detect(draw_page([box_polygon(*splash)], SIZE))
    _assert_matches(detection, [splash])
    assert detection.whole_page is False


def test_borderless_panel_is_its_art() -> None:
    page = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    framed = (60, 80, 880, 600)
    page[:] = draw_page([box_polygon(*framed)], SIZE)
    # Frameless art: shapes and a figure on the paper below the framed panel.
    cv2.circle(page, (300, 1050), 200, (200, 120, 60), -1)
    cv2.rectangle(page, (450, 900), (900, 1350), (60, 160, 90), -1)
    cv2.line(page, (120, 1380), (880, 1380), (0, 0, 0), 4)
    detection = _detect(page)
    _assert_matches(detection, [framed, (100, 850, 800, 534)], threshold=0.85)
    assert detection.whole_page is False


def test_borderless_blob_alone_on_white() -> None:
    page = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    cv2.ellipse(page, (500, 700), (380, 500), 0, 0, 360, (90, 140, 200), -1)
    detection = _detect(page)
    _assert_matches(detection, [(120, 200, 761, 1001)])
    assert detection.whole_page is False


def test_blank_page_is_the_whole_page() -> None:
    page = scan_like(np.full((SIZE[1], SIZE[0], 3), 240, np.uint8), noise=6)
    detection = _detect(page)
    assert detection.whole_page is True
    assert [p.bbox for p in detection.panels] == [(0, 0, *SIZE)]


def test_page_number_and_specks_are_not_panels() -> None:
    boxes = [(60, 80, 880, 640), (60, 760, 880, 640)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    cv2.putText(page, "12", (480, 1470), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    for x, y in [(20, 30), (970, 700), (500, 740)]:
        cv2.circle(page, (x, y), 3, (0, 0, 0), -1)
    _assert_matches(_detect(page), boxes)


def test_cream_paper_noise_and_rotation() -> None:
    boxes = [(60 + c * 450, 80 + r * 460, 430, 440) for r in range(3) for c in range(2)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE, paper=(236, 226, 190))
    page = scan_like(page, angle=0.7, noise=8, seed=3)
    _assert_matches(_detect(page), boxes, threshold=0.85)


def test_dark_scanner_edge_is_ignored() -> None:
    boxes = [(60, 80, 880, 640), (60, 760, 880, 640)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE, paper=(240, 232, 205))
    page[:, :35] = 25  # the scanner lid's shadow along the spine
    _assert_matches(_detect(page), boxes)


def test_speech_balloon_across_a_gutter_does_not_join_panels() -> None:
    boxes = [(60, 80, 880, 640), (60, 760, 880, 640)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    draw_balloon(page, (300, 620, 260, 240), np.random.default_rng(0))
    _assert_matches(_detect(page), boxes, threshold=0.85)


def test_black_gutters() -> None:
    boxes = [(60 + c * 450, 80 + r * 700, 430, 660) for r in range(2) for c in range(2)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE, paper=(0, 0, 0))
    _assert_matches(_detect(page), boxes)


@pytest.mark.parametrize("kind", ["pil_rgba", "pil_grey", "array_grey", "array_rgba"])
def test_accepts_pil_and_array_inputs(kind: str) -> None:
    boxes = [(60, 80, 880, 640), (60, 760, 880, 640)]
    page = draw_page([box_polygon(*b) for b in boxes], SIZE)
    image: np.ndarray | Image.Image
    if kind == "pil_rgba":
        image = Image.fromarray(page).convert("RGBA")
    elif kind == "pil_grey":
        image = Image.fromarray(page).convert("L")
    elif kind == "array_grey":
        image = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    else:
        image = np.dstack([page, np.full(page.shape[:2], 255, np.uint8)])
    detection = ContourDetector().detect(image)
    assert (detection.width, detection.height) == SIZE
    _assert_matches(detection, boxes)


def test_large_scan_boxes_come_back_in_page_pixels() -> None:
    boxes = [(120 + c * 900, 160 + r * 920, 860, 880) for r in range(3) for c in range(2)]
    page = scan_like(draw_page([box_polygon(*b) for b in boxes], (2000, 3000), frame=7), noise=5)
    detection = _detect(page)
    assert (detection.width, detection.height) == (2000, 3000)
    assert detection.detector == "contour" and detection.detector_version
    _assert_matches(detection, boxes, threshold=0.95)


def test_component_boxes_are_the_labelled_components_boxes_nested_ones_too() -> None:
    from comix_resources.detection.contour import _component_boxes

    mask = np.zeros((200, 300), np.uint8)
    cv2.rectangle(mask, (10, 10), (150, 150), 1, 3)  # a frame with a hole...
    cv2.rectangle(mask, (40, 40), (80, 90), 1, -1)  # ...and a block inside that hole
    cv2.line(mask, (170, 20), (290, 20), 1, 1)  # a one-pixel rule
    mask[180, 200] = mask[181, 201] = 1  # two pixels that touch only diagonally
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    labelled = sorted(map(tuple, stats[1:count, :4].tolist()))
    assert sorted(map(tuple, _component_boxes(mask).tolist())) == labelled and count - 1 == 4
    assert _component_boxes(np.zeros((5, 5), np.uint8)).shape == (0, 4)
