"""Page layouts as recursive split trees.

A layout is a tree: a ``Leaf`` is one panel, a ``Split`` divides its region into ``rows``
(children stacked top to bottom) or ``cols`` (children side by side). Every cut between two
children has its own gutter width and an optional slant (the cut is a little off vertical or
horizontal), which gives the uneven, slanted gutters of real pages.

The reading order is the depth-first order of the tree, which is the comics convention:
rows top to bottom and left to right inside a row, while a tall panel beside a stack of
panels (``cols(Leaf, rows(Leaf, Leaf))``) is read before the stack. For right-to-left books
(manga) the children of a ``cols`` split are laid out from the right, so the same tree gives
the mirrored page and the mirrored order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left
Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass
class Leaf:
    bordered: bool = True


@dataclass
class Split:
    axis: Literal["rows", "cols"]
    children: list[Node]
    weights: list[float]
    gutters: list[float] = field(default_factory=list)  # one per cut
    slants: list[float] = field(default_factory=list)  # one per cut, pixels


Node = Leaf | Split


def rows(*children: Node, weights: tuple[float, ...] | None = None) -> Split:
    return Split("rows", list(children), list(weights or [1.0] * len(children)))


def cols(*children: Node, weights: tuple[float, ...] | None = None) -> Split:
    return Split("cols", list(children), list(weights or [1.0] * len(children)))


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in node.children for leaf in leaves(child)]


@dataclass(frozen=True)
class PanelGeometry:
    """One panel: its outer quad (frame included), reading order and frame flag."""

    order: int
    quad: Quad
    bordered: bool

    @property
    def bbox(self) -> Box:
        return quad_bbox(self.quad)


def quad_bbox(quad: Quad) -> Box:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    x0, y0 = math.floor(min(xs)), math.floor(min(ys))
    x1, y1 = math.ceil(max(xs)), math.ceil(max(ys))
    return (x0, y0, x1 - x0, y1 - y0)


def inner_rect(quad: Quad) -> tuple[int, int, int, int]:
    """The largest axis-aligned rectangle (x0, y0, x1, y1) inside a near-rectangular quad."""
    tl, tr, br, bl = quad
    return (
        math.ceil(max(tl[0], bl[0])),
        math.ceil(max(tl[1], tr[1])),
        math.floor(min(tr[0], br[0])),
        math.floor(min(bl[1], br[1])),
    )


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _line_intersection(p1: Point, p2: Point, p3: Point, p4: Point) -> Point:
    d = (p1[0] - p2[0]) * (p3[1] - p4[1]) - (p1[1] - p2[1]) * (p3[0] - p4[0])
    a = p1[0] * p2[1] - p1[1] * p2[0]
    b = p3[0] * p4[1] - p3[1] * p4[0]
    return (
        (a * (p3[0] - p4[0]) - (p1[0] - p2[0]) * b) / d,
        (a * (p3[1] - p4[1]) - (p1[1] - p2[1]) * b) / d,
    )


def inset_quad(quad: Quad, d: float) -> Quad:
    """Move every edge of a clockwise (screen coordinates) convex quad inwards by ``d``."""
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        # inward normal for clockwise order in screen coordinates (y down)
        nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
        lines.append(((a[0] + nx * d, a[1] + ny * d), (b[0] + nx * d, b[1] + ny * d)))
    corners = [_line_intersection(*lines[(i - 1) % 4], *lines[i]) for i in range(4)]
    return (corners[0], corners[1], corners[2], corners[3])


def _split_quad(quad: Quad, split: Split, rtl: bool) -> list[Quad]:
    tl, tr, br, bl = quad
    n = len(split.children)
    weights = list(split.weights)
    if split.axis == "cols" and rtl:
        weights = weights[::-1]
    total = sum(weights)
    if split.axis == "cols":
        extent = (math.dist(tl, tr) + math.dist(bl, br)) / 2
        edge_a, edge_b = (tl, tr), (bl, br)  # top and bottom edges, left to right
    else:
        extent = (math.dist(tl, bl) + math.dist(tr, br)) / 2
        edge_a, edge_b = (tl, bl), (tr, br)  # left and right edges, top to bottom
    # parameters of each slot's start and end along edge_a and edge_b
    starts: list[tuple[float, float]] = [(0.0, 0.0)]
    ends: list[tuple[float, float]] = []
    acc = 0.0
    cuts = list(zip(split.gutters, split.slants, strict=True))
    if split.axis == "cols" and rtl:
        cuts = cuts[::-1]
    for k in range(n - 1):
        acc += weights[k]
        f = acc / total
        gutter, slant = cuts[k]
        ta, tb = f + slant / extent, f - slant / extent
        half = gutter / 2 / extent
        ends.append((ta - half, tb - half))
        starts.append((ta + half, tb + half))
    ends.append((1.0, 1.0))
    slots: list[Quad] = []
    for (sa, sb), (ea, eb) in zip(starts, ends, strict=True):
        a0, a1 = _lerp(*edge_a, sa), _lerp(*edge_a, ea)
        b0, b1 = _lerp(*edge_b, sb), _lerp(*edge_b, eb)
        if split.axis == "cols":
            slots.append((a0, a1, b1, b0))
        else:
            slots.append((a0, b0, b1, a1))
    if split.axis == "cols" and rtl:
        slots = slots[::-1]
    return slots


def layout_panels(
    node: Node, box: tuple[float, float, float, float], rtl: bool = False
) -> list[PanelGeometry]:
    """Panels of a layout tree inside ``box`` (x0, y0, x1, y1), in reading order."""
    x0, y0, x1, y1 = box
    out: list[PanelGeometry] = []

    def walk(n: Node, quad: Quad) -> None:
        if isinstance(n, Leaf):
            out.append(PanelGeometry(len(out), quad, n.bordered))
            return
        for child, sub in zip(n.children, _split_quad(quad, n, rtl), strict=True):
            walk(child, sub)

    walk(node, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))
    return out


# --- templates ------------------------------------------------------------------------


def _L() -> Leaf:
    return Leaf()


STORY_TEMPLATES: dict[str, Callable[[], Node]] = {
    "grid_2x3": lambda: rows(*(cols(_L(), _L()) for _ in range(3))),
    "grid_3x3": lambda: rows(*(cols(_L(), _L(), _L()) for _ in range(3))),
    "splash": _L,
    "wide_top": lambda: rows(_L(), cols(_L(), _L()), cols(_L(), _L()), weights=(1.1, 1, 1)),
    "tall_left": lambda: cols(_L(), rows(_L(), _L(), _L()), weights=(0.45, 0.55)),
    "tall_right": lambda: rows(
        cols(rows(_L(), _L()), _L(), weights=(0.55, 0.45)), _L(), weights=(0.7, 0.3)
    ),
    "nested": lambda: rows(
        cols(_L(), rows(_L(), _L()), weights=(0.55, 0.45)),
        _L(),
        cols(_L(), _L(), _L()),
        weights=(0.45, 0.25, 0.3),
    ),
    "strips": lambda: rows(_L(), _L(), cols(_L(), _L(), weights=(0.4, 0.6))),
    "staggered": lambda: rows(
        cols(_L(), _L(), weights=(0.62, 0.38)),
        cols(_L(), _L(), weights=(0.36, 0.64)),
        _L(),
    ),
}
FIRST_PAGE_TEMPLATES: dict[str, Callable[[], Node]] = {
    "first_wide": lambda: rows(_L(), cols(_L(), _L()), weights=(1.2, 1)),
    "first_tall": lambda: rows(_L(), cols(_L(), rows(_L(), _L()), weights=(0.5, 0.5))),
}
SPREAD_TEMPLATES: dict[str, Callable[[], Node]] = {
    "spread_panorama": lambda: rows(_L(), cols(_L(), _L(), _L(), _L()), weights=(0.56, 0.44)),
    "spread_center": lambda: cols(
        rows(_L(), _L()), _L(), rows(_L(), _L()), weights=(0.28, 0.44, 0.28)
    ),
}


def random_tree(rng: random.Random, width: float, height: float, depth: int = 0) -> Node:
    """A random split tree whose panels are at least about 210 x 230 pixels."""
    can_cols = width >= 2 * 230
    can_rows = height >= 2 * 250
    if depth >= 3 or not (can_cols or can_rows) or (depth > 0 and rng.random() < 0.3):
        return Leaf()
    axis: Literal["rows", "cols"]
    if can_cols and can_rows:
        axis = "rows" if height / width > 1.1 or rng.random() < 0.4 else "cols"
    else:
        axis = "cols" if can_cols else "rows"
    span = width if axis == "cols" else height
    n = min(rng.choice([2, 2, 3]), int(span // (230 if axis == "cols" else 250)))
    weights = [rng.uniform(0.8, 1.3) for _ in range(n)]
    total = sum(weights)
    children = [
        random_tree(
            rng,
            width * w / total if axis == "cols" else width,
            height * w / total if axis == "rows" else height,
            depth + 1,
        )
        for w in weights
    ]
    return Split(axis, children, weights)


def finish_tree(
    node: Node,
    rng: random.Random,
    gutter: float = 16.0,
    uneven: bool = True,
    slanted: bool = False,
) -> Node:
    """Give every cut a gutter width (jittered when ``uneven``) and, if ``slanted``, a slant.

    The slant stays below half the gutter minus 3 px, so the bounding boxes of neighbouring
    panels never overlap.
    """
    if isinstance(node, Leaf):
        return node
    cuts = len(node.children) - 1
    node.gutters = [
        max(10.0, gutter + (rng.uniform(-5, 7) if uneven else 0.0)) for _ in range(cuts)
    ]
    node.slants = [
        rng.uniform(-(g / 2 - 3), g / 2 - 3) if slanted and rng.random() < 0.7 else 0.0
        for g in node.gutters
    ]
    for child in node.children:
        finish_tree(child, rng, gutter, uneven, slanted)
    return node
