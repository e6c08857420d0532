"""Offline panel detector: classical computer vision with OpenCV, no model weights.

The page is reduced to a mask of "ink" (everything that differs from the paper
colour, which is estimated from the page border, so cream paper and black
gutters work alike); closed shapes are filled so that a framed panel becomes
one solid block whatever its art.  The filled mask is then cut recursively
along gutters (rows or columns with next to no ink, the classical XY-cut),
leaves are split further by connected components (slanted or irregular gutters
that no straight line follows), by "soft" cuts (two solid panels joined by a
speech balloon that crosses the gutter) and by cutting gutters that stop at a balloon
and resume beyond it (layouts no straight gutter crosses), and boxes are scaled back to
the page.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from comix_resources.detection.base import COVER, Box, Detection, Panel, as_uint8, one_panel
from comix_resources.detection.order import reading_order

DETECTOR_VERSION = "2"  # 2: gutters cut through the balloons that bridge them

# Longest gap a gutter is cut through, as a share of the gutter's run before or after it.
BRIDGE_SHARE = 0.6
# Share of a block that the panels it is split into must cover.
BRIDGED_COVER = 0.8
# Fill from which a block is one solid frame with no gutter inside to cut.
SOLID_FRAME_FILL = 0.98

# A region in analysis pixels: (x0, y0, x1, y1), ends exclusive.
_Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Params:
    """Tunables converted to analysis pixels once per page."""

    min_area: float
    min_width: float
    min_height: float
    min_gutter: int
    wide_gutter: int
    solid_fill: float
    soft_cut_fill: float


class ContourDetector:
    """Finds framed, irregular and borderless panels with OpenCV.

    Every size is relative to the page, so the defaults hold for thumbnails and
    600 dpi scans alike.
    """

    name = "contour"
    version = DETECTOR_VERSION

    def __init__(
        self,
        min_panel_fraction: float = 0.012,
        min_panel_side: float = 0.05,
        min_gutter_fraction: float = 0.004,
        wide_gutter_fraction: float = 0.025,
        analysis_size: int = 1000,
        ink_threshold: int | None = None,
        solid_fill: float = 0.5,
        soft_cut_fill: float = 0.4,
        whole_page_fraction: float = 0.95,
    ) -> None:
        """Configure the detector.

        min_panel_fraction: smallest panel area as a fraction of the page area
            (drops page numbers, signatures, scan specks).
        min_panel_side: smallest panel width (height) as a fraction of the page
            width (height), which drops thin strips such as scanner edges.
        min_gutter_fraction: narrowest gutter, as a fraction of the page's long side.
        wide_gutter_fraction: gap that separates two frameless panels; smaller gaps
            are the spaces between the lines and figures of one frameless panel.
        analysis_size: the page is resized so its long side has this many pixels.
        ink_threshold: colour distance from the paper that counts as ink (0..255);
            None estimates it from the paper's noise.
        solid_fill: fraction of a region's box that its (hole-filled) ink must cover
            for the region to count as a panel block rather than loose content.
        soft_cut_fill: largest ink fraction of a gutter that something (a balloon,
            an arm) crosses, for cutting two solid panels apart.
        whole_page_fraction: a single panel that covers this much of the page is
            reported as the whole page.
        """
        self.min_panel_fraction = min_panel_fraction
        self.min_panel_side = min_panel_side
        self.min_gutter_fraction = min_gutter_fraction
        self.wide_gutter_fraction = wide_gutter_fraction
        self.analysis_size = analysis_size
        self.ink_threshold = ink_threshold
        self.solid_fill = solid_fill
        self.soft_cut_fill = soft_cut_fill
        self.whole_page_fraction = whole_page_fraction

    def detect(
        self, image: np.ndarray | Image.Image, rtl: bool = False, page_type: str | None = None
    ) -> Detection:
        """Detect panels on one page; channel order (RGB or BGR) does not matter. A page the
        page-type step calls a cover is one panel."""
        pixels = as_uint8(image)
        height, width = pixels.shape[:2]
        # Small pages are analysed as they are: enlarging would blur the one-pixel
        # gutters of web comics.  INTER_AREA averages halftone dots and scan
        # grain away when shrinking.
        scale = min(1.0, self.analysis_size / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = pixels if scale == 1 else cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        ink = _close_open_frames(self._ink_mask(small))
        filled = _fill_holes(ink)
        found = _Segmenter(filled, self._params(filled.shape), ink).run()
        # Scale back with the exact per-axis factors of the resize.
        sx, sy = width / size[0], height / size[1]
        corners = [
            (
                round(x0 * sx),
                round(y0 * sy),
                min(width, round(x1 * sx)),
                min(height, round(y1 * sy)),
            )
            for (x0, y0, x1, y1), _ in found
        ]
        scores = [score for _, score in found]
        boxes: list[Box] = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in _expand(corners)]

        page_area = width * height
        whole_page = not boxes or (
            len(boxes) == 1 and boxes[0][2] * boxes[0][3] >= self.whole_page_fraction * page_area
        )
        if whole_page:
            # Nothing better than the page itself: a blank page or full-bleed art.
            boxes, scores = [(0, 0, width, height)], [0.0]
        order = reading_order(boxes, rtl=rtl)
        panels = tuple(
            Panel(bbox=boxes[i], score=scores[i], order=rank) for rank, i in enumerate(order)
        )
        detection = Detection(
            width=width,
            height=height,
            panels=panels,
            detector=self.name,
            detector_version=self.version,
            whole_page=whole_page,
        )
        return one_panel(detection) if page_type == COVER else detection

    def _params(self, shape: tuple[int, ...]) -> _Params:
        height, width = shape[:2]
        long_side = max(height, width)
        min_gutter = max(2, round(self.min_gutter_fraction * long_side))
        return _Params(
            min_area=self.min_panel_fraction * width * height,
            min_width=self.min_panel_side * width,
            min_height=self.min_panel_side * height,
            min_gutter=min_gutter,
            wide_gutter=max(min_gutter + 1, round(self.wide_gutter_fraction * long_side)),
            solid_fill=self.solid_fill,
            soft_cut_fill=self.soft_cut_fill,
        )

    def _ink_mask(self, small: np.ndarray) -> np.ndarray:
        """0/1 mask of pixels that differ from the paper colour."""
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
        y0, y1, x0, x1 = _scanner_edges(grey)
        page = small[y0:y1, x0:x1]
        paper, noise = _paper_colour(page if page.ndim == 3 else page[:, :, None])
        # Chebyshev distance to the paper colour: a saturated colour counts as ink
        # even where its luminance matches the paper's (light yellow on white).
        paper_page = np.empty_like(page)
        paper_page[...] = paper.astype(np.uint8)
        channels = cv2.split(cv2.absdiff(page, paper_page))
        distance = channels[0]
        for channel in channels[1:]:
            distance = cv2.max(distance, channel)
        threshold = self.ink_threshold
        if threshold is None:
            threshold = int(np.clip(30 + 4 * noise, 40, 100))
        mask = np.zeros(grey.shape, np.uint8)
        mask[y0:y1, x0:x1] = cv2.threshold(distance, threshold, 1, cv2.THRESH_BINARY)[1]
        return mask


def _scanner_edges(grey: np.ndarray) -> tuple[int, int, int, int]:
    """Bounds of the page inside dark scanner margins (y0, y1, x0, x1).

    Scans often carry a black band where the lid or the book's edge was; left in,
    it would pass as the paper colour or join every panel along one side.
    """
    height, width = grey.shape
    level = float(np.median(grey[::4, ::4]))
    if level < 100:
        # A dark page (black gutters): dark edges are the page itself.
        return 0, height, 0, width
    dark_rows = cv2.reduce(grey, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() < level / 2
    dark_cols = cv2.reduce(grey, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() < level / 2
    y0 = _scanner_band(dark_rows)
    y1 = height - _scanner_band(dark_rows[::-1])
    x0 = _scanner_band(dark_cols)
    x1 = width - _scanner_band(dark_cols[::-1])
    if dark_rows[y0:y1].any() or dark_cols[x0:x1].any():
        # Dark lines across the page too: dark gutters, so dark margins are paper.
        return 0, height, 0, width
    return y0, y1, x0, x1


def _scanner_band(dark: np.ndarray) -> int:
    """Width of a dark band at the start of ``dark``; thin runs are frame lines."""
    run = _run_length(dark, len(dark) // 10)
    return run if run >= max(4, 0.01 * len(dark)) else 0


def _run_length(flags: np.ndarray, limit: int) -> int:
    """Length of the run of True at the start of ``flags``, capped at ``limit``."""
    false = np.flatnonzero(~flags[:limit])
    return int(false[0]) if false.size else limit


def _paper_colour(page: np.ndarray) -> tuple[np.ndarray, float]:
    """Paper colour and its noise level (robust sigma), from the page border.

    The most frequent coarse colour of the border is the paper even when art
    bleeds off some edges, since art is many colours and paper is one.
    """
    height, width = page.shape[:2]
    band = max(2, round(0.02 * min(height, width)))
    border = np.concatenate(
        [
            page[:band].reshape(-1, page.shape[2]),
            page[-band:].reshape(-1, page.shape[2]),
            page[:, :band].reshape(-1, page.shape[2]),
            page[:, -band:].reshape(-1, page.shape[2]),
        ]
    ).astype(np.int32)
    coarse = border >> 5
    keys = (coarse * np.array([64, 8, 1][: page.shape[2]])).sum(axis=1)
    mode = np.bincount(keys).argmax()
    members = border[keys == mode]
    paper = np.median(members, axis=0)
    deviation = np.abs(members - paper).max(axis=1)
    noise = 1.4826 * float(np.median(deviation))
    return paper.astype(np.int16), noise


# A caption box joins the panel it sits on across a gap under this share of the page's
# gutter, when it is at most this share of the panel's height (or width).
CAPTION_GAP_SHARE, CAPTION_MAX_SHARE = 0.8, 0.5

# A letter (or a word run together by the scan) is at most this share of the page's height
# and width; a thin rule at most this share of its height. Ink shapes bigger than both are art.
GLYPH_HEIGHT, GLYPH_WIDTH, RULE_HEIGHT = 0.08, 0.3, 0.006


# A frame edge is a straight line at least this share of the page's width (height) long;
# the ends of a panel's top and bottom edges line up within this share of the width.
FRAME_EDGE_SHARE, EDGE_ALIGN_SHARE = 0.12, 0.012
# An open frame is at least this share of the page's height (width) tall (wide).
MIN_OPEN_PANEL_SHARE = 0.05


def _close_open_frames(ink: np.ndarray) -> np.ndarray:
    """Draw the missing side of frames left open (a balloon or a banner for an edge).

    A panel's top and bottom edges are straight lines over the same span; where no line
    joins their ends on a side, one is drawn, so that the frame closes and fills as one
    block. Only an edge with its art below (a top edge) and the next line over the same span
    with its art above (the bottom edge) are joined: the bottom edge of one panel and the top
    edge of the next, a gutter apart, never are.
    """
    closed = ink.copy()
    for axis in (1, 0):  # horizontal edges joined by vertical lines, then the converse
        lines = _edges(ink, axis)
        tolerance = max(2, round(EDGE_ALIGN_SHARE * ink.shape[1 - axis]))
        # Two lines closer than a panel can be narrow are the sides of one gutter.
        narrowest = MIN_OPEN_PANEL_SHARE * ink.shape[0 if axis == 1 else 1]
        for opening, closing in _edge_pairs(lines, tolerance):
            if closing[0] - opening[0] < narrowest or _gutter_between(ink, axis, opening, closing):
                continue
            for end in (2, 3):
                position = round((opening[end] + closing[end]) / 2) - (end == 3)
                if axis == 1:
                    cv2.line(closed, (position, opening[0]), (position, closing[0]), 1, 2)
                else:
                    cv2.line(closed, (opening[0], position), (closing[0], position), 1, 2)
    return closed


def _edges(ink: np.ndarray, axis: int) -> list[tuple[int, int, int, int]]:
    """Straight lines along ``axis`` (1: horizontal) as ``(level, side, start, end)``;
    ``side`` is +1 when ink lies after the line (a top or left edge), -1 before, 0 alike."""
    height, width = ink.shape
    length = max(8, round(FRAME_EDGE_SHARE * (width if axis == 1 else height)))
    kernel = np.ones((1, length) if axis == 1 else (length, 1), np.uint8)
    lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
    band = max(3, round(0.01 * max(height, width)))
    edges = []
    for left, top, w, h in _component_boxes(lines):
        if axis == 1:
            level, start, end, thick = top + h // 2, left, left + w, h
            before = ink[max(0, top - band) : top, start:end]
            after = ink[top + h : top + h + band, start:end]
        else:
            level, start, end, thick = left + w // 2, top, top + h, w
            before = ink[start:end, max(0, left - band) : left]
            after = ink[start:end, left + w : left + w + band]
        if thick > band:
            continue  # a solid block, not a line
        contrast = (after.mean() if after.size else 0.0) - (before.mean() if before.size else 0.0)
        side = 0 if abs(contrast) < 0.25 else 1 if contrast > 0 else -1
        edges.append((level, side, start, end))
    return sorted(edges)


def _gutter_between(
    ink: np.ndarray, axis: int, opening: tuple[int, ...], closing: tuple[int, ...]
) -> bool:
    """Whether a clean gutter crosses the span between two lined-up edges, so that they
    belong to two panels side by side (whose frames are broken), not to one open frame."""
    level0, level1 = opening[0] + 2, closing[0] - 1
    start, end = min(opening[2], closing[2]), max(opening[3], closing[3])
    if level1 <= level0 or end <= start:
        return False
    block = ink[level0:level1, start:end] if axis == 1 else ink[start:end, level0:level1]
    # A gutter runs parallel to the edges: a row between two horizontal edges (a column
    # between two vertical ones) with next to no ink.
    profile = block.mean(axis=1 if axis == 1 else 0)
    return bool(np.any(profile[2:-2] < 0.05))


def _edge_pairs(
    edges: list[tuple[int, int, int, int]], tolerance: int
) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """(top edge, bottom edge) pairs: an opening line and the next line over the same span,
    when that one is a closing line."""
    pairs = []
    for i, opening in enumerate(edges):
        if opening[1] != 1:
            continue
        for line in edges[i + 1 :]:
            if abs(line[2] - opening[2]) <= tolerance and abs(line[3] - opening[3]) <= tolerance:
                if line[1] == -1:
                    pairs.append((opening, line))
                break
    return pairs


def _component_boxes(mask: np.ndarray) -> np.ndarray:
    """``(left, top, width, height)`` of every 8-connected component of a 0/1 mask, as an
    (n, 4) array: the boxes of ``connectedComponentsWithStats``, from the outer contours.

    Tracing only the components' borders visits a sparse mask's few edge pixels instead of
    labelling every pixel (14x faster on frame-line masks). ``RETR_CCOMP`` puts a component
    that lies inside another's hole at the top level too, so none is missed.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return np.zeros((0, 4), np.int64)
    outer = [c for c, link in zip(contours, hierarchy[0], strict=True) if link[3] == -1]
    return np.array([cv2.boundingRect(c) for c in outer], np.int64).reshape(-1, 4)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every area enclosed by ink: a framed panel becomes a solid block."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(padded, None, (0, 0), 2)
    return (padded[1:-1, 1:-1] != 2).astype(np.uint8)


class _Segmenter:
    """Recursive gutter cutting over the hole-filled ink mask of one page."""

    def __init__(self, filled: np.ndarray, params: _Params, ink: np.ndarray) -> None:
        self.mask = filled
        self.ink = ink
        self.p = params
        self.integral = cv2.integral(filled)

    def _spans(self, r: _Region, axis: int) -> tuple[list[tuple[int, int]], list[int]]:
        """Inked spans along ``axis`` and the widths of the gutters between them."""
        profile = self._profile(r, axis)
        across = (r[2] - r[0]) if axis == 1 else (r[3] - r[1])
        spans = _runs(profile > 0.01 * across)
        if not spans:
            return [], []
        merged = [spans[0]]
        for start, end in spans[1:]:
            gap = (merged[-1][1], start)
            if start - merged[-1][1] < self.p.min_gutter or self._bridged(r, axis, *gap):
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged, [b[0] - a[1] for a, b in itertools.pairwise(merged)]

    def _bridged(self, r: _Region, axis: int, start: int, end: int, every_end: bool = True) -> bool:
        """Whether ink runs on across the gap ``start:end`` at both ends (at either end
        when not ``every_end``).

        Between two panels the frames turn at the gutter; inside one panel (under a
        caption box, between a title and its art) the panel's side lines cross the gap.
        """
        band = self._region(r, axis, start, end)
        k = max(2, self.p.min_gutter)
        x0, y0, x1, y1 = band
        if axis == 1:
            ends = ((x0, y0, min(x1, x0 + k), y1), (max(x0, x1 - k), y0, x1, y1))
        else:
            ends = ((x0, y0, x1, min(y1, y0 + k)), (x0, max(y0, y1 - k), x1, y1))
        crossed = [self._line_across(e, axis) for e in ends]
        return all(crossed) if every_end else any(crossed)

    def _line_across(self, r: _Region, axis: int) -> bool:
        """Whether some line of ink crosses the thin region ``r`` from side to side along
        ``axis`` (a column through every row for rows, a row through every column)."""
        x0, y0, x1, y1 = r
        block = self.mask[y0:y1, x0:x1]
        if block.size == 0:
            return False
        return bool(block.all(axis=0 if axis == 1 else 1).any())

    def run(self) -> list[tuple[_Region, float]]:
        height, width = self.mask.shape
        region = self._tight((0, 0, width, height))
        if region is None:
            return []
        self.gutter = self._typical_gutter(region)
        self.units: set[_Region] = set()  # caption and panel joined: one panel, never cut
        return self._segment(region)

    def _typical_gutter(self, page: _Region) -> float:
        """Median width of the gutters that cross the page or one of its tiers (0: none)."""
        widths: list[int] = []
        for axis in (1, 0):
            spans, gaps = self._spans(page, axis)
            widths += gaps
            for s, e in spans if len(spans) > 1 else []:
                piece = self._tight(self._region(page, axis, s, e))
                widths += [] if piece is None else self._spans(piece, 1 - axis)[1]
        return float(np.median(widths)) if widths else 0.0

    # Geometry helpers.

    def _count(self, r: _Region) -> int:
        x0, y0, x1, y1 = r
        s = self.integral
        return int(s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0])

    def _fill(self, r: _Region) -> float:
        return self._count(r) / max(1, (r[2] - r[0]) * (r[3] - r[1]))

    def _sized(self, r: _Region) -> bool:
        w, h = r[2] - r[0], r[3] - r[1]
        return w * h >= self.p.min_area and w >= self.p.min_width and h >= self.p.min_height

    def _profile(self, r: _Region, axis: int) -> np.ndarray:
        """Ink per row (axis 1) or per column (axis 0) of the region, from the integral."""
        x0, y0, x1, y1 = r
        s = self.integral
        if axis == 1:
            band = s[y0 : y1 + 1, x1] - s[y0 : y1 + 1, x0]
        else:
            band = s[y1, x0 : x1 + 1] - s[y0, x0 : x1 + 1]
        return np.diff(band)

    def _tight(self, r: _Region) -> _Region | None:
        """Shrink a region to its ink, ignoring edge lines with only a speck of ink."""
        x0, y0, x1, y1 = r
        rows = np.flatnonzero(self._profile(r, 1) > 0.01 * (x1 - x0))
        if rows.size == 0:
            return None
        y0, y1 = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
        cols = np.flatnonzero(self._profile((x0, y0, x1, y1), 0) > 0.01 * (y1 - y0))
        if cols.size == 0:
            return None
        return x0 + int(cols[0]), y0, x0 + int(cols[-1]) + 1, y1

    def _framed(self, r: _Region) -> bool:
        """Whether lines run along at least three sides of the region (a frame)."""
        x0, y0, x1, y1 = r
        k = max(2, self.p.min_gutter)
        sides = (
            self._profile((x0, y0, x1, min(y1, y0 + k)), 0),
            self._profile((x0, max(y0, y1 - k), x1, y1), 0),
            self._profile((x0, y0, min(x1, x0 + k), y1), 1),
            self._profile((max(x0, x1 - k), y0, x1, y1), 1),
        )
        lengths = (x1 - x0, x1 - x0, y1 - y0, y1 - y0)
        covered = sum(
            np.count_nonzero(side) >= 0.8 * length
            for side, length in zip(sides, lengths, strict=True)
        )
        return covered >= 3

    def _block(self, r: _Region) -> bool:
        """A panel-like block: solid ink (filled frame, coloured art) or a frame."""
        return self._fill(r) >= self.p.solid_fill or self._framed(r)

    def _region(self, r: _Region, axis: int, start: int, end: int) -> _Region:
        x0, y0, x1, y1 = r
        return (x0, y0 + start, x1, y0 + end) if axis == 1 else (x0 + start, y0, x0 + end, y1)

    # The recursion.

    def _segment(self, r: _Region) -> list[tuple[_Region, float]]:
        if r in self.units:
            return [(r, self._fill(r))]
        for axis in (1, 0):  # rows first: Western and manga pages are stacked tiers
            pieces = self._strict_cut(r, axis)
            if len(pieces) == 1 and pieces[0] in self.units:
                return [(pieces[0], self._fill(pieces[0]))]
            if len(pieces) > 1:
                blocks = [self._block(piece) for piece in pieces]
                result: list[tuple[_Region, float]] = []
                for piece, block in zip(pieces, blocks, strict=True):
                    if not block and any(blocks):
                        # Loose content between framed panels is one frameless
                        # panel: its text and figures must not be cut apart.
                        result.extend(self._loose(piece))
                    else:
                        result.extend(self._segment(piece))
                return result
        # Both directions compete: the band that the least ink crosses is the gutter.
        cuts = [cut for axis in (1, 0) if (cut := self._soft_cut(r, axis))]
        if cuts:
            first, second = min(cuts, key=lambda cut: cut[0])[1]
            return self._segment(first) + self._segment(second)
        return self._leaf(r)

    def _strict_cut(self, r: _Region, axis: int) -> list[_Region]:
        """Pieces between gutters (lines with at most a speck of ink) along ``axis``."""
        # Gaps narrower than a gutter (lines of text, a balloon's inside) are closed.
        merged = self._spans(r, axis)[0]
        if len(merged) < 2:
            return [r]
        pieces = [self._tight(self._region(r, axis, s, e)) for s, e in merged]
        pieces = [piece for piece in pieces if piece is not None]
        return self._join_captions(self._join_loose(pieces, axis), axis)

    def _join_captions(self, pieces: list[_Region], axis: int) -> list[_Region]:
        """Rejoin a caption box to the panel it sits on (above or below it).

        Old comics often box a caption apart from the art of its panel: a strip of text as
        wide as the panel, a gap narrower than the page's gutters away. A text panel of its
        own is as big as a panel and a gutter away from its neighbours.
        """
        if axis != 1 or len(pieces) < 2:
            return pieces
        joined = [pieces[0]]
        for piece in pieces[1:]:
            if self._caption_pair(joined[-1], piece):
                joined[-1] = _union(joined[-1], piece)
                self.units.add(joined[-1])
            else:
                joined.append(piece)
        return joined

    def _caption_pair(self, upper: _Region, lower: _Region) -> bool:
        """Whether one of two regions, one above the other, is the other's caption box."""
        gap = lower[1] - upper[3]
        narrow = max(self.p.min_gutter, CAPTION_GAP_SHARE * self.gutter)
        return 0 <= gap < narrow and (
            self._caption_of(upper, lower, 1) or self._caption_of(lower, upper, 1)
        )

    def _caption_of(self, caption: _Region, panel: _Region, axis: int) -> bool:
        """Whether ``caption`` is a text strip lying along ``panel`` (same extent across)."""
        other = 1 - axis
        length = (caption[axis + 2] - caption[axis], panel[axis + 2] - panel[axis])
        tolerance = max(3, 0.04 * (panel[other + 2] - panel[other]))
        aligned = (
            abs(caption[other] - panel[other]) <= tolerance
            and abs(caption[other + 2] - panel[other + 2]) <= tolerance
        )
        if not aligned or length[0] > CAPTION_MAX_SHARE * length[1]:
            return False
        k = max(2, self.p.min_gutter)
        x0, y0, x1, y1 = caption
        inside = (x0 + k, y0 + k, x1 - k, y1 - k)  # inside its frame, if it has one
        return inside[2] > inside[0] and inside[3] > inside[1] and self._text_only(inside)

    def _join_loose(self, pieces: list[_Region], axis: int) -> list[_Region]:
        """Rejoin neighbouring loose pieces that a narrow gap separates.

        Two frameless panels are separated by a proper gutter; a smaller gap between
        two loose pieces is inside one panel (between a caption and a figure).
        """
        if len(pieces) < 2:
            return pieces
        joined = [pieces[0]]
        for piece in pieces[1:]:
            last = joined[-1]
            gap = piece[axis] - last[axis + 2]
            if gap < self.p.wide_gutter and not self._block(last) and not self._block(piece):
                joined[-1] = (
                    min(last[0], piece[0]),
                    min(last[1], piece[1]),
                    max(last[2], piece[2]),
                    max(last[3], piece[3]),
                )
            else:
                joined.append(piece)
        return joined

    def _soft_cut(self, r: _Region, axis: int) -> tuple[float, tuple[_Region, _Region]] | None:
        """Cut two solid blocks apart across a gutter that something crosses.

        A speech balloon or an arm over the gutter leaves a band where only a
        small part of the width is ink; it is a gutter only if both sides are
        panel blocks of panel size, which loose content never is, and if no frame
        or solid art runs on across either end of the band (a panel continuing past
        a T-junction, a caption's lower edge inside its panel's frame). Returns the
        share of the band that ink crosses, with the two halves.
        """
        profile = self._profile(r, axis)
        across = (r[2] - r[0]) if axis == 1 else (r[3] - r[1])
        low = profile <= self.p.soft_cut_fill * across
        best: tuple[float, tuple[_Region, _Region]] | None = None
        for start, end in _runs(low):
            if start == 0 or end == len(profile) or end - start < self.p.min_gutter:
                continue
            crossing = float(profile[start:end].mean()) / across
            if best is not None and crossing >= best[0]:
                continue
            middle = (start + end) // 2
            first = self._tight(self._region(r, axis, 0, middle))
            second = self._tight(self._region(r, axis, middle, len(profile)))
            if first is None or second is None:
                continue
            if not all(self._sized(h) and self._block(h) for h in (first, second)):
                continue
            if self._bridged(r, axis, start, end, every_end=False):
                continue
            if axis == 1 and (
                self._caption_of(first, second, axis) or self._caption_of(second, first, axis)
            ):
                continue
            best = (crossing, (first, second))
        return best

    def _leaf(self, r: _Region) -> list[tuple[_Region, float]]:
        """A region no gutter line crosses: one panel, or panels with curved gutters."""
        x0, y0, x1, y1 = r
        sub = np.ascontiguousarray(self.mask[y0:y1, x0:x1])
        blocks = self._solid_components(sub, (x0, y0), connectivity=8)
        blocks = [piece for block in blocks for piece in self._split_bridged(block)]
        if len(blocks) >= 2:
            blocks = self._absorb_captions(blocks)
        if len(blocks) >= 2:
            return [(self._trim(box), self._fill(box)) for box in _merge_nested(blocks)]
        if self._block(r):
            return [(self._trim(r), self._fill(r))] if self._sized(r) else []
        return self._loose(r)

    def _split_bridged(self, block: _Region) -> list[_Region]:
        """A solid block as the panels it joins (``_bridged_blocks``), or as itself when its
        pieces are not panels that tile it (fragments of one panel's art)."""
        pieces = self._bridged_blocks(block)
        if len(pieces) < 2 or not all(self._block(piece) for piece in pieces):
            return [block]
        if sum(_area(piece) for piece in pieces) < BRIDGED_COVER * _area(block):
            return [block]
        return pieces

    def _bridged_blocks(self, r: _Region) -> list[_Region]:
        """Solid blocks of a region once its gutters are cut through what bridges them.

        On a layout that no straight gutter crosses (stepped tiers, a pinwheel, an L-shaped
        panel), balloons or art lying across the gutters join the panels into one shape.
        Each gutter still shows as a corridor of paper a gutter wide that stops at the
        balloon and resumes beyond it, or meets the gutter it runs into. A corridor at least
        a tenth of the page long is cut through such a gap when the gap is short: at most
        ``BRIDGE_SHARE`` of the corridor's run and 0.15 of the page (a wide panel under
        a tier, where the tier's gutters resume below it, is as tall as they are long). A
        corridor that does not resume (paper beside a figure) cuts nothing. The cuts of one
        direction are paper for the other, so each direction is cut twice.
        """
        x0, y0, x1, y1 = r
        if self._fill(r) >= SOLID_FRAME_FILL or not (
            x1 - x0 >= 2 * self.p.min_width or y1 - y0 >= 2 * self.p.min_height
        ):
            return []  # one solid frame with no gutter inside, or no room for two panels
        g = max(2, self.p.min_gutter)
        cut = self.mask[y0:y1, x0:x1].copy()
        for axis in (0, 1, 0, 1):  # 0: vertical corridors (columns), 1: horizontal (rows)
            paper = (cut == 0).astype(np.uint8)
            # a pixel of a corridor: paper for a gutter's width across it
            kernel = np.ones((1, g) if axis == 0 else (g, 1), np.uint8)
            corridor = cv2.erode(paper, kernel, anchor=(0, 0), borderValue=0)
            # a gutter drawn by hand drifts by a pixel or two along its length
            slack = np.ones((1, 5) if axis == 0 else (5, 1), np.uint8)
            corridor = cv2.dilate(corridor, slack)
            lines = corridor if axis == 0 else corridor.T
            extent = self.mask.shape[axis == 1]  # the page's height (0) or width (1)
            long_run = 0.1 * extent
            bridge = max(3 * self.p.wide_gutter, 0.15 * extent)
            for column, start, end in _short_gaps(lines, long_run, bridge):
                if axis == 0:
                    cut[start:end, column] = 0
                else:
                    cut[column, start:end] = 0
        return self._solid_components(cut, (x0, y0), connectivity=4)

    def _solid_components(
        self, mask: np.ndarray, origin: tuple[int, int], connectivity: int
    ) -> list[_Region]:
        """Boxes, in page coordinates, of the mask's connected shapes that are panel-sized
        and solid (a filled panel, not a stroke of loose art)."""
        x0, y0 = origin
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
        blocks: list[_Region] = []
        for left, top, w, h, area in stats[1:count]:
            box = (x0 + int(left), y0 + int(top), x0 + int(left + w), y0 + int(top + h))
            if self._sized(box) and area >= self.p.solid_fill * w * h:
                blocks.append(box)
        return blocks

    def _absorb_captions(self, blocks: list[_Region]) -> list[_Region]:
        """Join every caption block to the block it sits on (see ``_join_captions``)."""
        blocks = sorted(blocks, key=lambda b: (b[1], b[0]))
        changed = True
        while changed:
            changed = False
            for i, upper in enumerate(blocks):
                for j in range(i + 1, len(blocks)):
                    if self._caption_pair(upper, blocks[j]):
                        blocks[i] = _union(upper, blocks.pop(j))
                        changed = True
                        break
                if changed:
                    break
        return blocks

    def _loose(self, r: _Region) -> list[tuple[_Region, float]]:
        """Frameless content: its ink box is the panel, unless it is too small or only text
        (a title line, a caption strip on the margin, a column of prose)."""
        if not self._sized(r) or self._text_only(r):
            return []
        # Frameless panels get a lower confidence than framed blocks.
        return [(r, 0.5 * min(1.0, self._fill(r) / self.p.solid_fill))]

    def _text_only(self, r: _Region) -> bool:
        """Whether every ink shape in the region is glyph-sized (or a thin rule): no art."""
        x0, y0, x1, y1 = r
        height, width = self.ink.shape
        boxes = _component_boxes(np.ascontiguousarray(self.ink[y0:y1, x0:x1]))
        w, h = boxes[:, 2], boxes[:, 3]
        glyph = (h <= GLYPH_HEIGHT * height) & (w <= GLYPH_WIDTH * width)
        rule = h <= RULE_HEIGHT * height
        return bool(np.all(glyph | rule))

    def _trim(self, r: _Region) -> _Region:
        """Cut off balloons and captions that stick out of a panel's frame.

        Edge lines where ink covers under a quarter of the panel are overhang, at
        most 15 % per side; the cut stands only if it uncovers a frame, so that
        round or odd-shaped frameless art stays whole.
        """
        x0, y0, x1, y1 = r
        rows = self._profile(r, 1) >= 0.25 * (x1 - x0)
        top = _run_length(~rows, int(0.15 * (y1 - y0)))
        bottom = _run_length(~rows[::-1], int(0.15 * (y1 - y0)))
        y0, y1 = y0 + top, y1 - bottom
        cols = self._profile((x0, y0, x1, y1), 0) >= 0.25 * (y1 - y0)
        left = _run_length(~cols, int(0.15 * (x1 - x0)))
        right = _run_length(~cols[::-1], int(0.15 * (x1 - x0)))
        trimmed = (x0 + left, y0, x1 - right, y1)
        return trimmed if trimmed != r and self._framed(trimmed) else r


def _expand(boxes: list[_Region]) -> list[_Region]:
    """Grow boxes over loose gutters until they sit one typical gutter from a neighbour.

    A frameless panel's ink box is smaller than the cell it occupies; its
    neighbours' frames tell where the cell ends.  Framed panels already sit one
    gutter apart and do not move.  Sides without a neighbour grow to the bounds
    of all panels.
    """
    if len(boxes) < 2:
        return boxes
    bounds = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    grown = [list(b) for b in boxes]
    gutters = (_typical_gutter(boxes, 0), _typical_gutter(boxes, 1))
    # Smallest first: a loose panel takes the gap before the framed neighbour
    # whose frame already bounds it would, so the two never claim the same pixels.
    by_area = sorted(range(len(boxes)), key=lambda i: _area(boxes[i]))
    for axis in (0, 1):
        other = 1 - axis
        for i in by_area:
            a = grown[i]
            beside = [b for j, b in enumerate(grown) if j != i and _overlap(a, b, other) > 0]
            # Any box reaching past a side bounds it, overlapping ones included
            # (slanted gutters give overlapping boxes): those stop all growth.
            after = [b[axis] for b in beside if b[axis + 2] > a[axis + 2]]
            before = [b[axis + 2] for b in beside if b[axis] < a[axis]]
            end = min(after) - gutters[axis] if after else bounds[axis + 2]
            start = max(before) + gutters[axis] if before else bounds[axis]
            a[axis] = min(a[axis], start)
            a[axis + 2] = max(a[axis + 2], end)
    return [(b[0], b[1], b[2], b[3]) for b in grown]


def _area(box: _Region) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _overlap(a: Sequence[int], b: Sequence[int], axis: int) -> int:
    """Length of the overlap of two boxes projected on ``axis`` (0: x, 1: y)."""
    return min(a[axis + 2], b[axis + 2]) - max(a[axis], b[axis])


def _typical_gutter(boxes: list[_Region], axis: int) -> int:
    """Median gap between each box and its nearest neighbour side by side along ``axis``."""
    other = 1 - axis
    gaps = []
    for a in boxes:
        near = [
            b[axis] - a[axis + 2]
            for b in boxes
            if b[axis] >= a[axis + 2]
            and _overlap(a, b, other) >= 0.5 * min(a[other + 2] - a[other], b[other + 2] - b[other])
        ]
        if near:
            gaps.append(min(near))
    return int(np.median(gaps)) if gaps else 0


def _short_gaps(lines: np.ndarray, long_run: float, bridge: float) -> list[tuple[int, int, int]]:
    """``(column, start, end)`` of every gap of at most ``bridge`` rows between two runs of
    one column of ``lines`` (a 0/1 array), one of them at least ``long_run`` rows long."""
    steps = np.diff(np.pad(lines.T.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    # nonzero walks column by column, each top to bottom: run k starts and ends at index k
    columns, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    lengths = ends - starts
    same = columns[1:] == columns[:-1]
    gaps = starts[1:] - ends[:-1]
    longest = np.maximum(lengths[1:], lengths[:-1])
    # a gap as long as the gutter that leads to it is a panel across its line, not a balloon
    short = (gaps <= bridge) & (gaps <= BRIDGE_SHARE * longest)
    chosen = np.flatnonzero(same & short & (longest >= long_run))
    return [(int(columns[k]), int(ends[k]), int(starts[k + 1])) for k in chosen]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D array, ends exclusive."""
    padded = np.concatenate(([False], flags.astype(bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def _union(a: _Region, b: _Region) -> _Region:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _merge_nested(boxes: list[_Region]) -> list[_Region]:
    """Union boxes that mostly lie inside one another (an inset on a big panel)."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
                iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
                smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                if ix * iy >= 0.5 * smaller:
                    merged[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged
