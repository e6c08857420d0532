"""Synthetic comic pages with known panel boxes, for tests and the benchmark.

Pages look like printed comics rather than clean diagrams: coloured art that
fills each frame, white speech balloons with "text", and optionally cream
paper, grain and a slightly rotated scan.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

Point = tuple[int, int]


def box_polygon(x: int, y: int, w: int, h: int) -> list[Point]:
    """The four corners of an ``(x, y, w, h)`` box, clockwise from top left."""
    return [(x, y), (x + w - 1, y), (x + w - 1, y + h - 1), (x, y + h - 1)]


def draw_page(
    panels: Sequence[Sequence[Point]],
    size: tuple[int, int],
    paper: tuple[int, int, int] = (255, 255, 255),
    frame: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """An RGB page of ``size`` (w, h) with one framed, painted panel per polygon."""
    rng = np.random.default_rng(seed)
    width, height = size
    page = np.empty((height, width, 3), np.uint8)
    page[:] = paper
    for polygon in panels:
        points = np.array(polygon, np.int32)
        x, y, w, h = cv2.boundingRect(points)
        art = np.zeros_like(page)
        _paint_art(art, (x, y, w, h), rng)
        inside = np.zeros((height, width), np.uint8)
        cv2.fillPoly(inside, [points], 1)
        page[inside == 1] = art[inside == 1]
        cv2.polylines(page, [points], True, (20, 20, 20), frame, cv2.LINE_AA)
    return page


def _paint_art(art: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """Flat background colour, a few shapes, ink strokes and a speech balloon."""
    x, y, w, h = box
    colour = tuple(int(c) for c in rng.integers(120, 240, 3))
    cv2.rectangle(art, (x, y), (x + w, y + h), colour, -1)
    for _ in range(4):
        cx, cy = int(x + rng.uniform(0.1, 0.9) * w), int(y + rng.uniform(0.3, 0.9) * h)
        radius = int(rng.uniform(0.05, 0.2) * min(w, h))
        shape = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(art, (cx, cy), radius, shape, -1)
        cv2.circle(art, (cx, cy), radius, (10, 10, 10), 2, cv2.LINE_AA)
    bw, bh = int(0.45 * w), int(0.18 * h)
    bx, by = int(x + 0.08 * w), int(y + 0.06 * h)
    draw_balloon(art, (bx, by, bw, bh), rng)


def draw_balloon(
    image: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator
) -> None:
    """A white elliptical speech balloon with a black outline and lines of "text"."""
    x, y, w, h = box
    centre, axes = (x + w // 2, y + h // 2), (w // 2, h // 2)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (250, 250, 250), -1)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (10, 10, 10), 2, cv2.LINE_AA)
    lines = 3
    for i in range(lines):
        ty = y + int((i + 1.5) * h / (lines + 2))
        length = int(rng.uniform(0.4, 0.6) * w)
        cv2.line(image, (x + (w - length) // 2, ty), (x + (w + length) // 2, ty), (0, 0, 0), 2)


def scan_like(
    image: np.ndarray, angle: float = 0.0, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Rotate by ``angle`` degrees (paper colour fills the corners) and add grain."""
    height, width = image.shape[:2]
    if angle:
        paper = tuple(int(c) for c in image[2, 2])
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        image = cv2.warpAffine(
            image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=paper
        )
    if noise:
        grain = np.random.default_rng(seed).normal(0, noise, image.shape)
        image = np.clip(image.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return image


def random_layout(
    size: tuple[int, int], rng: np.random.Generator
) -> list[tuple[int, int, int, int]]:
    """Boxes of a typical page: 2 to 4 tiers of 1 to 3 panels, unequal gutters."""
    width, height = size
    margin_x, margin_y = int(0.06 * width), int(0.05 * height)
    tiers = int(rng.integers(2, 5))
    edges = [0.0, *_jittered(tiers, rng), 1.0]
    inner_w, inner_h = width - 2 * margin_x, height - 2 * margin_y
    boxes = []
    for top, bottom in itertools.pairwise(edges):
        gutter = int(rng.uniform(0.008, 0.02) * height)
        y0, y1 = margin_y + int(top * inner_h) + gutter // 2, margin_y + int(bottom * inner_h)
        y1 -= gutter // 2
        count = int(rng.integers(1, 4))
        splits = [0.0, *_jittered(count, rng), 1.0]
        for left, right in itertools.pairwise(splits):
            gutter_x = int(rng.uniform(0.01, 0.025) * width)
            x0 = margin_x + int(left * inner_w) + gutter_x // 2
            x1 = margin_x + int(right * inner_w) - gutter_x // 2
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return boxes


def _jittered(parts: int, rng: np.random.Generator) -> list[float]:
    """Inner cut positions of ``parts`` near-equal parts, each moved by up to a quarter."""
    return [(i + rng.uniform(-0.25, 0.25)) / parts for i in range(1, parts)]
