"""Drawing of synthetic comic pages with Pillow, and their ground truth.

Every ``render_*`` function takes a ``random.Random`` and returns a ``RenderedPage``: the
PIL image and the page's truth (panels in reading order and every piece of text with its
tight bounding box). Coordinates are page pixels, boxes are ``[x, y, w, h]``.

Text kinds: ``dialogue`` (speech balloons), ``narration`` (caption boxes), ``sfx`` (sound
effects), ``title`` (logos and headlines outside panels) and ``body`` (credits, prose,
advertisement copy, book text).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from comix_resources.demo import corpus
from comix_resources.demo.layouts import (
    FIRST_PAGE_TEMPLATES,
    SPREAD_TEMPLATES,
    STORY_TEMPLATES,
    Box,
    Node,
    PanelGeometry,
    Quad,
    finish_tree,
    inner_rect,
    inset_quad,
    layout_panels,
    leaves,
    quad_bbox,
    random_tree,
)
from comix_resources.demo.style import BookStyle, Character

PAGE_SIZE = (800, 1200)
SPREAD_SIZE = (1600, 1200)
Color = tuple[int, int, int]
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)
CAPTION_YELLOW: Color = (255, 236, 150)

SKIES: dict[str, tuple[Color, Color]] = {
    "day": ((70, 130, 210), (190, 220, 250)),
    "dusk": ((60, 40, 110), (250, 150, 90)),
    "night": ((8, 12, 40), (40, 55, 110)),
    "space": ((0, 0, 10), (20, 10, 40)),
    "sea": ((20, 60, 110), (80, 160, 190)),
}
SEA: Color = (20, 70, 120)
# Advertisements are the publisher's, not the book's, so they keep their own loud colours.
AD_COLORS: list[Color] = [
    (200, 40, 40),
    (40, 80, 200),
    (40, 150, 70),
    (230, 180, 30),
    (120, 60, 160),
    (30, 30, 30),
]


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (Pillow >= 10.1 with FreeType), so no system font."""
    loaded = ImageFont.load_default(size=size)
    if not isinstance(loaded, ImageFont.FreeTypeFont):  # pragma: no cover - old Pillow
        raise RuntimeError("Pillow with FreeType support is needed for the demo library")
    return loaded


def _box(rect: Rect) -> Box:
    return (rect[0], rect[1], rect[2] - rect[0], rect[3] - rect[1])


def _overlaps(a: Rect, b: Rect, margin: int = 0) -> bool:
    return not (
        a[2] + margin <= b[0]
        or b[2] + margin <= a[0]
        or a[3] + margin <= b[1]
        or b[3] + margin <= a[1]
    )


def _inside(inner: Rect, outer: Rect) -> bool:
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def wrap(text: str, size: int, max_width: float) -> list[str]:
    """Greedy word wrap; a single word wider than ``max_width`` stays on its own line."""
    f = font(size)
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and f.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _line_height(size: int) -> int:
    return round(size * 1.25)


def _block_size(lines: list[str], size: int) -> tuple[int, int]:
    f = font(size)
    width = max((math.ceil(f.getlength(line)) for line in lines), default=0)
    return width, _line_height(size) * len(lines)


@dataclass
class TextTruth:
    text: str
    kind: str
    panel: int | None
    bbox: Box

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "kind": self.kind, "panel": self.panel, "bbox": list(self.bbox)}


@dataclass
class PanelTruth:
    bbox: Box
    order: int
    bordered: bool

    def to_json(self) -> dict[str, Any]:
        return {"bbox": list(self.bbox), "order": self.order, "bordered": self.bordered}


@dataclass
class RenderedPage:
    image: Image.Image
    page_type: str
    is_comic: bool
    is_spread: bool = False
    panels: list[PanelTruth] = field(default_factory=list)
    texts: list[TextTruth] = field(default_factory=list)

    def truth(self, page_index: int) -> dict[str, Any]:
        return {
            "page_index": page_index,
            "page_type": self.page_type,
            "is_comic": self.is_comic,
            "width": self.image.width,
            "height": self.image.height,
            "is_spread": self.is_spread,
            "panels": [p.to_json() for p in self.panels],
            "texts": [t.to_json() for t in self.texts],
        }


@dataclass(frozen=True)
class BookInfo:
    """What the pages of one book need to know about it."""

    title: str
    series: str
    issue: str
    publisher: str
    year: int
    writer: str
    artist: str
    style: BookStyle
    rtl: bool = False


class Canvas:
    """A page being drawn, with the truth collected along the way."""

    def __init__(self, size: tuple[int, int], paper: Color) -> None:
        self.image = Image.new("RGB", size, paper)
        self.draw = ImageDraw.Draw(self.image)
        self.texts: list[TextTruth] = []
        self.panels: list[PanelTruth] = []

    def text_lines(
        self,
        lines: list[str],
        size: int,
        x: int,
        y: int,
        kind: str,
        panel: int | None = None,
        fill: Color = BLACK,
        center_width: int | None = None,
        stroke: int = 0,
        stroke_fill: Color = BLACK,
        record: bool = True,
    ) -> Rect:
        """Draw lines top-down from (x, y); record one text item; return its ink box."""
        f = font(size)
        step = _line_height(size)
        ink: Rect | None = None
        for i, line in enumerate(lines):
            lx = x
            if center_width is not None:
                lx = x + round((center_width - f.getlength(line)) / 2)
            pos = (lx, y + i * step)
            self.draw.text(
                pos, line, font=f, fill=fill, stroke_width=stroke, stroke_fill=stroke_fill
            )
            bb = self.draw.textbbox(pos, line, font=f, stroke_width=stroke)
            rect = (math.floor(bb[0]), math.floor(bb[1]), math.ceil(bb[2]), math.ceil(bb[3]))
            ink = (
                rect
                if ink is None
                else (
                    min(ink[0], rect[0]),
                    min(ink[1], rect[1]),
                    max(ink[2], rect[2]),
                    max(ink[3], rect[3]),
                )
            )
        assert ink is not None
        if record:
            self.texts.append(TextTruth(" ".join(lines), kind, panel, _box(ink)))
        return ink

    def paragraph(
        self,
        text: str,
        size: int,
        x: int,
        y: int,
        width: int,
        kind: str = "body",
        fill: Color = BLACK,
    ) -> int:
        """Wrap ``text`` into ``width``; one text item per line; return the y below it."""
        for line in wrap(text, size, width):
            self.text_lines([line], size, x, y, kind, fill=fill)
            y += _line_height(size)
        return y

    def render(
        self,
        page_type: str,
        is_comic: bool,
        nprng: np.random.Generator,
        noise: int = 5,
        is_spread: bool = False,
    ) -> RenderedPage:
        image = add_texture(self.image, nprng, noise) if noise else self.image
        return RenderedPage(image, page_type, is_comic, is_spread, self.panels, self.texts)


def add_texture(image: Image.Image, nprng: np.random.Generator, amplitude: int) -> Image.Image:
    """Paper grain: the same small random offset on the three channels of each pixel."""
    arr = np.asarray(image, dtype=np.int16)
    grain = nprng.integers(
        -amplitude, amplitude + 1, size=(arr.shape[0], arr.shape[1], 1), dtype=np.int16
    )
    return Image.fromarray(np.clip(arr + grain, 0, 255).astype(np.uint8), "RGB")


# --- art --------------------------------------------------------------------------------


def _gradient(width: int, height: int, top: Color, bottom: Color) -> Image.Image:
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    colors = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    arr = np.broadcast_to(colors, (height, width, 3)).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def _star(cx: float, cy: float, r: float, points: int = 5) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        rad = r if i % 2 == 0 else r * 0.45
        a = math.pi * i / points - math.pi / 2
        out.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return out


def _emblem(draw: ImageDraw.ImageDraw, who: Character, cx: float, cy: float, r: float) -> None:
    if who.emblem == "star":
        draw.polygon(_star(cx, cy, r), fill=who.accent, outline=BLACK)
    elif who.emblem == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=who.accent, outline=BLACK)
    elif who.emblem == "bolt":
        bolt = [
            (cx + r * 0.3, cy - r),
            (cx - r * 0.5, cy + r * 0.1),
            (cx, cy + r * 0.1),
            (cx - r * 0.3, cy + r),
            (cx + r * 0.5, cy - r * 0.1),
            (cx, cy - r * 0.1),
        ]
        draw.polygon(bolt, fill=who.accent, outline=BLACK)


_BODY_WIDTH = {"slim": 0.22, "broad": 0.3, "round": 0.32, "caped": 0.26}


def draw_figure(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    who: Character,
    x: float,
    feet: float,
    height: float,
    line_scale: float = 1.0,
) -> tuple[float, float]:
    """A member of the cast standing at (x, feet), in that character's build, costume and
    headgear, so the same person is recognisable from panel to panel; returns the top of
    the head."""
    height *= who.scale
    head_r = height * 0.12
    body_top = feet - height + 2 * head_r
    body_w = height * _BODY_WIDTH[who.build]
    leg_top = feet - height * 0.38
    lw = max(1, round(height / 60 * line_scale))
    head_cy = body_top - head_r + 2
    if who.build == "caped":  # behind everything else
        draw.polygon(
            [
                (x - body_w * 0.45, body_top + 4),
                (x + body_w * 0.45, body_top + 4),
                (x + body_w * 0.9, feet - height * 0.06),
                (x - body_w * 0.9, feet - height * 0.06),
            ],
            fill=who.accent,
            outline=BLACK,
            width=lw,
        )
    if who.hat == "hood":
        draw.ellipse(
            [x - head_r * 1.2, head_cy - head_r * 1.25, x + head_r * 1.2, head_cy + head_r * 1.1],
            fill=who.accent,
            outline=BLACK,
            width=lw,
        )
    # legs
    draw.rectangle(
        [x - body_w / 2, leg_top, x - 2, feet], fill=who.trousers, outline=BLACK, width=lw
    )
    draw.rectangle(
        [x + 2, leg_top, x + body_w / 2, feet], fill=who.trousers, outline=BLACK, width=lw
    )
    # arms
    arm = height * 0.3
    shoulder = body_w * (0.6 if who.build == "broad" else 0.5)
    lift = rng.uniform(-0.6, 0.6)
    arm_w = max(4, round(height / 25))
    draw.line(
        [x - shoulder, body_top + 8, x - shoulder - arm * 0.5, body_top + arm * (1 + lift)],
        fill=who.skin,
        width=arm_w,
    )
    draw.line(
        [x + shoulder, body_top + 8, x + shoulder + arm * 0.5, body_top + arm * (1 - lift)],
        fill=who.skin,
        width=arm_w,
    )
    # body
    if who.build == "broad":
        draw.polygon(
            [
                (x - body_w * 0.6, body_top),
                (x + body_w * 0.6, body_top),
                (x + body_w * 0.42, leg_top + 4),
                (x - body_w * 0.42, leg_top + 4),
            ],
            fill=who.shirt,
            outline=BLACK,
            width=lw,
        )
    elif who.build == "round":
        draw.ellipse(
            [x - body_w / 2, body_top, x + body_w / 2, leg_top + body_w * 0.25],
            fill=who.shirt,
            outline=BLACK,
            width=lw,
        )
    else:
        draw.rounded_rectangle(
            [x - body_w / 2, body_top, x + body_w / 2, leg_top + 4],
            radius=body_w / 5,
            fill=who.shirt,
            outline=BLACK,
            width=lw,
        )
    _emblem(draw, who, x, body_top + (leg_top - body_top) * 0.35, body_w * 0.2)
    # head
    head = [x - head_r * 0.9, head_cy - head_r, x + head_r * 0.9, head_cy + head_r]
    if who.head == "square":
        draw.rounded_rectangle(head, radius=head_r * 0.3, fill=who.skin, outline=BLACK, width=lw)
    else:
        draw.ellipse(head, fill=who.skin, outline=BLACK, width=lw)
    eye = head_r * 0.3
    for dx in (-eye, eye):
        draw.ellipse([x + dx - 2, head_cy - 3, x + dx + 2, head_cy + 1], fill=BLACK)
    crown = [x - head_r * 0.9, head_cy - head_r, x + head_r * 0.9, head_cy + head_r * 0.4]
    if who.hair is not None and who.hat in (None, "cap", "hood"):
        draw.chord(crown, 180, 360, fill=who.hair)
    if who.hat == "cap":
        draw.chord(crown, 180, 360, fill=who.accent, outline=BLACK, width=lw)
        brim_y = head_cy - head_r * 0.3
        draw.rectangle(
            [x - head_r * 0.2, brim_y - 3, x + head_r * 1.3, brim_y + 2], fill=who.accent
        )
    elif who.hat == "tophat":
        top = head_cy - head_r * 2.1
        draw.rectangle(
            [x - head_r * 0.6, top, x + head_r * 0.6, head_cy - head_r * 0.7],
            fill=(25, 25, 30),
            outline=BLACK,
            width=lw,
        )
        draw.rectangle(
            [x - head_r * 0.6, head_cy - head_r * 1.05, x + head_r * 0.6, head_cy - head_r * 0.8],
            fill=who.accent,
        )
        draw.rectangle(
            [x - head_r * 1.1, head_cy - head_r * 0.8, x + head_r * 1.1, head_cy - head_r * 0.65],
            fill=(25, 25, 30),
        )
    elif who.hat == "helmet":
        draw.chord(
            [x - head_r, head_cy - head_r * 1.1, x + head_r, head_cy + head_r * 0.7],
            180,
            360,
            fill=who.accent,
            outline=BLACK,
            width=lw,
        )
    return (x, head_cy - head_r)


def _shade(color: Color, factor: float) -> Color:
    return (
        min(255, round(color[0] * factor)),
        min(255, round(color[1] * factor)),
        min(255, round(color[2] * factor)),
    )


def _print_look(image: Image.Image, style: BookStyle) -> Image.Image:
    """The book's printing and colouring over finished art: a colour cast (multiplied, so
    black lines stay black) and the screen, flat colour or Ben-Day dots or hatching."""
    arr = np.asarray(image, dtype=np.float32)
    cast = 1.0 - style.grade_strength * (1.0 - np.asarray(style.grade, np.float32) / 255.0)
    arr = arr * cast
    if style.screen != "flat":
        step = style.screen_step
        yy, xx = np.mgrid[0 : arr.shape[0], 0 : arr.shape[1]]
        if style.screen == "dots":
            half = (step - 1) / 2
            pattern = (xx % step - half) ** 2 + (yy % step - half) ** 2 <= (0.33 * step) ** 2
        else:
            pattern = (xx + yy) % step == 0
        arr[pattern] *= 0.78
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def draw_scene(
    rng: random.Random,
    width: int,
    height: int,
    style: BookStyle,
    figures: int | None = None,
) -> tuple[Image.Image, list[tuple[float, float]]]:
    """Panel art in the book's style: a sky of one of its settings, ground, maybe buildings,
    stars or a moon, and a few members of its cast."""
    kind = rng.choices(style.settings, weights=style.setting_weights)[0]
    top, bottom = SKIES[kind]
    img = _gradient(width, height, top, bottom)
    draw = ImageDraw.Draw(img)
    lw = max(1, round(style.line_scale))
    horizon = height * rng.uniform(0.58, 0.8)
    if kind in ("night", "space"):
        for _ in range(int(width * height / 4000)):
            sx, sy = rng.uniform(0, width), rng.uniform(0, horizon)
            r = rng.choice([1, 1, 2])
            draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(255, 255, 230))
    if rng.random() < 0.5:
        r = min(width, height) * rng.uniform(0.06, 0.12)
        cx, cy = rng.uniform(r, width - r), rng.uniform(r, horizon * 0.5)
        color = (255, 240, 180) if kind in ("night", "space") else (255, 220, 90)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    if kind == "space":
        r = width * rng.uniform(0.25, 0.4)
        cx = rng.uniform(0, width)
        draw.ellipse(
            [cx - r, horizon - r * 0.3, cx + r, horizon + r * 1.7],
            fill=style.grounds[0],
            outline=BLACK,
            width=lw,
        )
    else:
        if rng.random() < 0.5:  # buildings
            x = rng.uniform(-20, 0)
            while x < width:
                bw = rng.uniform(40, 110)
                bh = rng.uniform(0.15, 0.45) * height
                draw.rectangle(
                    [x, horizon - bh, x + bw, horizon],
                    fill=_shade(style.building, rng.uniform(0.75, 1.25)),
                    outline=BLACK,
                    width=lw,
                )
                for wy in range(int(horizon - bh + 10), int(horizon - 12), 22):
                    for wx in range(int(x + 8), int(x + bw - 12), 18):
                        if rng.random() < 0.6:
                            draw.rectangle([wx, wy, wx + 8, wy + 10], fill=style.window)
                x += bw + rng.uniform(0, 15)
        ground = rng.choice(style.grounds) if kind != "sea" else SEA
        draw.rectangle([0, horizon, width, height], fill=ground)
        draw.line([0, horizon, width, horizon], fill=BLACK, width=max(2, lw))
    heads: list[tuple[float, float]] = []
    count = rng.choice([0, 1, 1, 2, 2, 3]) if figures is None else figures
    count = min(count, len(style.cast))
    fig_h = min(height * rng.uniform(0.35, 0.55), width * 0.9)
    if count and fig_h >= 60:
        cast = rng.sample(style.cast, count)
        slot = width * 0.7 / count  # one slot per figure, so they rarely overlap
        xs = [width * 0.15 + slot * (i + rng.uniform(0.3, 0.7)) for i in range(count)]
        for who, fx in zip(cast, xs, strict=True):
            feet = min(
                height - 4, horizon + rng.uniform(0.05, 0.3) * (height - horizon) + fig_h * 0.1
            )
            heads.append(draw_figure(draw, rng, who, fx, feet, fig_h, style.line_scale))
    return _print_look(img, style), heads


# --- panels and text in panels ----------------------------------------------------------


def _shift(quad: Quad, dx: float, dy: float) -> list[tuple[float, float]]:
    return [(x - dx, y - dy) for x, y in quad]


def draw_panel(
    canvas: Canvas, rng: random.Random, geom: PanelGeometry, frame: int, style: BookStyle
) -> tuple[Rect, list[tuple[float, float]]]:
    """Frame (if bordered) and art of one panel.

    Returns the rectangle free for text and the tops of the figures' heads (page pixels).
    """
    bx, by, bw, bh = geom.bbox
    content = inset_quad(geom.quad, frame) if geom.bordered else geom.quad
    if geom.bordered:
        canvas.draw.polygon(list(geom.quad), fill=BLACK)
    scene, heads = draw_scene(rng, bw, bh, style)
    mask = Image.new("L", (bw, bh), 0)
    ImageDraw.Draw(mask).polygon(_shift(content, bx, by), fill=255)
    canvas.image.paste(scene, (bx, by), mask)
    canvas.panels.append(PanelTruth(geom.bbox, geom.order, geom.bordered))
    x0, y0, x1, y1 = inner_rect(content)
    pad = 8
    return (x0 + pad, y0 + pad, x1 - pad, y1 - pad), [(bx + hx, by + hy) for hx, hy in heads]


def _free(rect: Rect, occupied: list[Rect]) -> bool:
    return not any(_overlaps(rect, o, margin=6) for o in occupied)


def place_caption(
    canvas: Canvas,
    rng: random.Random,
    region: Rect,
    panel: int,
    occupied: list[Rect],
    style: BookStyle,
    text: str | None = None,
    kind: str = "narration",
) -> bool:
    rw, rh = region[2] - region[0], region[3] - region[1]
    size = max(18, style.lettering - rng.choice([1, 2]))
    text = style.letter(text or corpus.narration(rng, style.vocabulary))
    lines = wrap(text, size, min(rw - 20, 320))
    tw, th = _block_size(lines, size)
    w, h = tw + 20, th + 14
    if w > rw or h > rh * 0.45:
        return False
    corners = [(region[0], region[1]), (region[2] - w, region[3] - h)]
    x, y = corners[0] if rng.random() < 0.8 else corners[1]
    box = (x, y, x + w, y + h)
    if not _free(box, occupied):
        return False
    canvas.draw.rectangle(
        [box[0], box[1], box[2] - 1, box[3] - 1], fill=style.caption_fill, outline=BLACK, width=2
    )
    ink = canvas.text_lines(lines, size, x + 10, y + 6, kind, panel)
    assert _inside(ink, box)
    occupied.append(box)
    return True


def _tail(
    base: tuple[tuple[float, float], tuple[float, float]],
    tip: tuple[float, float],
    bend: float,
) -> list[tuple[float, float]]:
    """A curved balloon tail: both edges are quadratic curves from the base to the tip,
    pulled sideways by ``bend`` pixels (a wedge when ``bend`` is 0)."""
    points: list[tuple[float, float]] = []
    for corner in (base[0], base[1]):
        control = ((corner[0] + tip[0]) / 2 + bend, (corner[1] + tip[1]) / 2)
        edge = []
        for i in range(9):
            t = i / 8
            edge.append(
                (
                    (1 - t) ** 2 * corner[0] + 2 * (1 - t) * t * control[0] + t**2 * tip[0],
                    (1 - t) ** 2 * corner[1] + 2 * (1 - t) * t * control[1] + t**2 * tip[1],
                )
            )
        points += edge if not points else edge[::-1]
    return points


def place_balloon(
    canvas: Canvas,
    rng: random.Random,
    region: Rect,
    panel: int,
    occupied: list[Rect],
    heads: list[tuple[float, float]],
    style: BookStyle,
    text: str | None = None,
) -> bool:
    """A speech balloon (ellipse with a tail towards a speaker) holding one line of dialogue,
    in the book's lettering: size, case, balloon proportions, outline and tail."""
    rw, rh = region[2] - region[0], region[3] - region[1]
    # The text's box must fit inside the ellipse: with half-axes k_x * w/2 and k_y * h/2,
    # its corners lie inside when 1/k_x^2 + 1/k_y^2 <= 1; sqrt(2) for both is the round
    # balloon, and a wider one (k_x larger) may be flatter.
    kx = 1.42 * style.balloon_aspect
    ky = 1.0 / math.sqrt(1.0 - 1.0 / kx**2) + 0.02
    for attempt in range(4):
        size = 18 if attempt == 3 else max(18, style.lettering + rng.choice([-1, 0, 0, 1]))
        line = text if text and attempt == 0 else corpus.dialogue(rng, style.vocabulary)
        lines = wrap(style.letter(line), size, min(rw * 0.6, 230))
        tw, th = _block_size(lines, size)
        ew, eh = math.ceil(tw * kx + 18), math.ceil(th * ky + 18)
        tail = rng.randint(22, 40)
        if ew > rw or eh + tail > rh:
            continue
        for _ in range(25):
            x = rng.randint(region[0], region[2] - ew)
            top_span = max(0, int((rh - eh - tail) * 0.6))
            y = region[1] + rng.randint(0, top_span)
            ellipse = (x, y, x + ew, y + eh)
            cx = x + ew / 2
            below = [hx for hx, hy in heads if hy > y + eh]
            if below:
                speaker = min(below, key=lambda hx: abs(hx - cx))
                offset = min(max(speaker - cx, -ew * 0.3), ew * 0.3)
            else:
                offset = rng.uniform(-ew * 0.3, ew * 0.3)
            tip_x = min(max(cx + offset, region[0]), region[2])
            tip_y = y + eh + tail
            full = (x, y, x + ew, int(tip_y) + 1)
            if not _free(full, occupied) or not _inside(full, region):
                continue
            base = (cx - ew * 0.12, y + eh * 0.8), (cx + ew * 0.12, y + eh * 0.8)
            bend = 0.0 if style.tail == "wedge" else (-0.1 if offset > 0 else 0.1) * ew
            canvas.draw.polygon(
                _tail(base, (tip_x, tip_y), bend),
                fill=WHITE,
                outline=BLACK,
                width=style.balloon_outline,
            )
            canvas.draw.ellipse(
                list(ellipse), fill=WHITE, outline=BLACK, width=style.balloon_outline
            )
            ty = round(y + (eh - th) / 2)
            ink = canvas.text_lines(lines, size, x, ty, "dialogue", panel, center_width=ew)
            assert _inside(ink, ellipse)
            occupied.append(full)
            return True
    return False


def place_sfx(
    canvas: Canvas,
    rng: random.Random,
    region: Rect,
    panel: int,
    occupied: list[Rect],
    style: BookStyle,
) -> bool:
    """A big bold sound effect, coloured with a black outline, drawn at an angle."""
    rw, rh = region[2] - region[0], region[3] - region[1]
    word = corpus.sound_effect(rng, style.vocabulary)
    size = rng.randint(40, 64)
    f = font(size)
    while size > 30 and f.getlength(word) + 20 > rw * 0.9:
        size -= 4
        f = font(size)
    layer = Image.new("RGBA", (math.ceil(f.getlength(word)) + 20, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text(
        (10, size // 3),
        word,
        font=f,
        fill=rng.choice(style.sfx_colors),
        stroke_width=3,
        stroke_fill=BLACK,
    )
    layer = layer.rotate(rng.uniform(-14, 14), resample=Image.Resampling.BICUBIC, expand=True)
    bbox = layer.getbbox()
    if bbox is None:
        return False
    layer = layer.crop(bbox)
    w, h = layer.size
    if w > rw or h > rh:
        return False
    for _ in range(25):
        x = rng.randint(region[0], region[2] - w)
        y = rng.randint(region[1], region[3] - h)
        box = (x, y, x + w, y + h)
        if _free(box, occupied):
            canvas.image.paste(layer, (x, y), layer)
            canvas.texts.append(TextTruth(word, "sfx", panel, _box(box)))
            occupied.append(box)
            return True
    return False


def draw_story_panels(
    canvas: Canvas,
    rng: random.Random,
    tree: Node,
    box: tuple[float, float, float, float],
    rtl: bool,
    style: BookStyle,
    title_caption: str | None = None,
) -> None:
    for geom in layout_panels(tree, box, rtl=rtl):
        region, heads = draw_panel(canvas, rng, geom, style.frame, style)
        occupied: list[Rect] = []
        if geom.order == 0 and title_caption:
            place_caption(canvas, rng, region, geom.order, occupied, style, title_caption)
        elif rng.random() < (0.55 if geom.order == 0 else 0.25):
            place_caption(canvas, rng, region, geom.order, occupied, style)
        for _ in range(rng.choice([0, 1, 1, 1, 2, 2])):
            place_balloon(canvas, rng, region, geom.order, occupied, heads, style)
        if rng.random() < 0.18:
            place_sfx(canvas, rng, region, geom.order, occupied, style)


def _gutter(rng: random.Random, style: BookStyle) -> float:
    """The book's gutter, give or take the artist's hand, within the range the detector
    was tuned on."""
    return min(20.0, max(13.0, style.gutter + rng.uniform(-1.5, 1.5)))


def _story_tree(
    rng: random.Random,
    templates: dict[str, Any],
    width: float,
    height: float,
    random_share: float,
    style: BookStyle,
) -> Node:
    if rng.random() < random_share:
        tree = random_tree(rng, width, height)
    else:
        tree = templates[rng.choice(sorted(templates))]()
    if rng.random() < 0.15:
        rng.choice(leaves(tree)).bordered = False
    return finish_tree(
        tree,
        rng,
        gutter=_gutter(rng, style),
        uneven=rng.random() < 0.7,
        slanted=rng.random() < 0.3,
    )


def _margins(style: BookStyle, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The book's trim: every page of a book is printed with the same margins."""
    w, h = size
    mx, my = style.margins
    return (mx, my, w - mx, h - my)


# --- page types -------------------------------------------------------------------------


def render_story(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo, spread: bool = False
) -> RenderedPage:
    size = SPREAD_SIZE if spread else PAGE_SIZE
    style = book.style
    canvas = Canvas(size, style.paper)
    box = _margins(style, size)
    templates = SPREAD_TEMPLATES if spread else STORY_TEMPLATES
    tree = _story_tree(
        rng, templates, box[2] - box[0], box[3] - box[1], 0.0 if spread else 0.3, style
    )
    draw_story_panels(canvas, rng, tree, box, book.rtl, style)
    return canvas.render("story", True, nprng, is_spread=spread)


def render_first_page(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo, story_title: str
) -> RenderedPage:
    style = book.style
    canvas = Canvas(PAGE_SIZE, style.paper)
    x0, y0, x1, y1 = _margins(style, PAGE_SIZE)
    size = 58
    while font(size).getlength(story_title.upper()) > x1 - x0 and size > 30:
        size -= 4
    canvas.text_lines(
        [story_title.upper()],
        size,
        x0,
        y0,
        "title",
        fill=rng.choice(style.sfx_colors),
        center_width=x1 - x0,
        stroke=3,
    )
    by = y0 + _line_height(size) + 12
    credit = f"Story: {book.writer}   Art: {book.artist}"
    canvas.text_lines([credit], 20, x0, by, "body", center_width=x1 - x0)
    top = by + 44
    tree = finish_tree(
        FIRST_PAGE_TEMPLATES[rng.choice(sorted(FIRST_PAGE_TEMPLATES))](),
        rng,
        gutter=_gutter(rng, style),
        uneven=rng.random() < 0.7,
    )
    draw_story_panels(
        canvas,
        rng,
        tree,
        (x0, top, x1, y1),
        book.rtl,
        style,
        title_caption=corpus.narration(rng, style.vocabulary),
    )
    return canvas.render("first-page", True, nprng)


def _fit_size(text: str, start: int, width: int, minimum: int = 24) -> int:
    size = start
    while font(size).getlength(text) + 8 > width and size > minimum:
        size -= 2
    return size


def render_cover(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo, story_title: str
) -> RenderedPage:
    w, h = PAGE_SIZE
    style = book.style
    canvas = Canvas(PAGE_SIZE, WHITE)
    scene, _ = draw_scene(rng, w, h, style, figures=rng.choice([1, 2]))
    canvas.image.paste(scene, (0, 0))
    logo = book.series.upper()
    size = _fit_size(logo, 110, w - 60)
    # the lead's colours on the masthead, as a series brands itself with its hero
    canvas.draw.rectangle([0, 0, w, _line_height(size) + 60], fill=style.cast[0].shirt)
    canvas.text_lines(
        [logo],
        size,
        30,
        30,
        "title",
        fill=style.sfx_colors[1],
        center_width=w - 60,
        stroke=4,
    )
    badge = (24, _line_height(size) + 76, 150, _line_height(size) + 140)
    canvas.draw.rectangle(list(badge), fill=WHITE, outline=BLACK, width=3)
    canvas.text_lines(
        [f"No. {book.issue}"],
        30,
        badge[0],
        badge[1] + 14,
        "title",
        center_width=badge[2] - badge[0],
    )
    tagline = f"IN THIS ISSUE: {story_title.upper()}!"
    lines = wrap(tagline, 30, w - 120)
    _tw, th = _block_size(lines, 30)
    ty = h - th - 90
    canvas.draw.rectangle(
        [40, ty - 14, w - 40, ty + th + 14], fill=style.caption_fill, outline=BLACK, width=3
    )
    canvas.text_lines(lines, 30, 40, ty, "title", center_width=w - 80)
    canvas.draw.rectangle([w - 190, h - 60, w - 20, h - 18], fill=WHITE, outline=BLACK, width=2)
    canvas.text_lines([book.publisher.upper()[:16]], 18, w - 190, h - 50, "body", center_width=170)
    return canvas.render("cover", True, nprng, noise=4)


def render_credits(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo, story_title: str
) -> RenderedPage:
    style = book.style
    canvas = Canvas(PAGE_SIZE, style.paper)
    x0, y0, x1, _ = _margins(style, PAGE_SIZE)
    width = x1 - x0
    size = _fit_size(book.series.upper(), 56, width)
    # The series masthead in the lead's colours, as on the cover. On white paper it is also
    # what tells this page from a grey page of book prose (the quality filter's test).
    canvas.draw.rectangle(
        [x0, y0 + 36, x1, y0 + 84 + _line_height(size)],
        fill=style.cast[0].shirt,
        outline=BLACK,
        width=3,
    )
    canvas.text_lines(
        [book.series.upper()],
        size,
        x0,
        y0 + 60,
        "title",
        fill=style.sfx_colors[1],
        center_width=width,
        stroke=3,
    )
    y = y0 + 100 + _line_height(size)
    canvas.text_lines(
        [f"Issue {book.issue}: {story_title}"], 30, x0, y, "title", center_width=width
    )
    y += 90
    roles = [
        ("Writer", book.writer),
        ("Artist", book.artist),
        ("Colorist", rng.choice(corpus.CREATORS)),
        ("Letterer", rng.choice(corpus.CREATORS)),
        ("Editor", rng.choice(corpus.CREATORS)),
    ]
    for role, name in roles:
        canvas.text_lines([f"{role}: {name}"], 26, x0, y, "body", center_width=width)
        y += 48
    y += 40
    canvas.draw.line([x0 + 100, y, x1 - 100, y], fill=BLACK, width=2)
    y += 30
    indicia = (
        f"{book.series.upper()} No. {book.issue}, {book.year}. Published by {book.publisher}. "
        "All characters featured in this issue and the distinctive names and likenesses "
        "thereof are fictional. No similarity between any of the names, characters, persons "
        "or institutions in this magazine and those of any living or dead person is intended. "
        "Printed in a demo library that exists only for testing."
    )
    canvas.paragraph(indicia, 18, x0 + 20, y, width - 40)
    return canvas.render("credits", True, nprng)


def render_advertisement(rng: random.Random, nprng: np.random.Generator) -> RenderedPage:
    w, h = PAGE_SIZE
    canvas = Canvas(PAGE_SIZE, rng.choice([(255, 250, 205), WHITE, (235, 245, 255)]))
    product, pitch = rng.choice(corpus.PRODUCTS)
    price = rng.choice(corpus.PRICES)
    banner = rng.choice(AD_COLORS[:5])
    canvas.draw.rectangle([0, 30, w, 190], fill=banner)
    size = _fit_size(product, 88, w - 60)
    canvas.text_lines([product], size, 30, 60, "title", fill=WHITE, center_width=w - 60, stroke=4)
    canvas.text_lines(wrap(pitch.upper(), 30, w - 80), 30, 40, 215, "title", center_width=w - 80)
    # product drawing
    cx, cy = w * rng.uniform(0.3, 0.4), 470
    canvas.draw.rounded_rectangle(
        [cx - 150, cy - 110, cx + 150, cy + 110],
        radius=40,
        fill=rng.choice(AD_COLORS),
        outline=BLACK,
        width=5,
    )
    canvas.draw.ellipse(
        [cx - 90, cy - 60, cx - 10, cy + 20], fill=(200, 230, 255), outline=BLACK, width=4
    )
    canvas.draw.ellipse(
        [cx + 10, cy - 60, cx + 90, cy + 20], fill=(200, 230, 255), outline=BLACK, width=4
    )
    # starburst with the price
    sx, sy, r = w - 190, 470, 150
    points = []
    for i in range(32):
        rad = r if i % 2 == 0 else r * 0.72
        a = math.pi * 2 * i / 32
        points.append((sx + rad * math.cos(a), sy + rad * math.sin(a)))
    canvas.draw.polygon(points, fill=(250, 215, 20), outline=BLACK, width=3)
    canvas.text_lines(["ONLY"], 34, int(sx - 100), int(sy - 55), "title", center_width=200)
    canvas.text_lines(
        [f"{price}!"],
        46,
        int(sx - 100),
        int(sy - 8),
        "title",
        fill=(220, 30, 30),
        center_width=200,
        stroke=2,
    )
    y = 640
    for bullet in ("Money back guarantee!", "Rush delivery in 2 weeks!", "Fun for the family!"):
        canvas.text_lines([f"* {bullet}"], 28, 70, y, "body")
        y += 50
    # coupon
    top = h - 330
    for x in range(40, w - 40, 24):
        canvas.draw.line([x, top, x + 12, top], fill=BLACK, width=3)
        canvas.draw.line([x, h - 50, x + 12, h - 50], fill=BLACK, width=3)
    for yy in range(top, h - 50, 24):
        canvas.draw.line([40, yy, 40, yy + 12], fill=BLACK, width=3)
        canvas.draw.line([w - 40, yy, w - 40, yy + 12], fill=BLACK, width=3)
    canvas.text_lines(
        [f"SEND {price} TO: NOVELTY CO., DEPT. {rng.randint(10, 99)}"], 22, 70, top + 30, "body"
    )
    canvas.text_lines([f"Please rush me the {product.title()}."], 22, 70, top + 80, "body")
    for i, label in enumerate(("NAME", "ADDRESS", "CITY")):
        yy = top + 135 + i * 50
        canvas.text_lines([label], 22, 70, yy, "body")
        canvas.draw.line([200, yy + 24, w - 80, yy + 24], fill=BLACK, width=2)
    return canvas.render("advertisement", True, nprng)


def _framed_art(
    canvas: Canvas, rng: random.Random, rect: Rect, order: int, style: BookStyle
) -> None:
    x0, y0, x1, y1 = rect
    quad: Quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    draw_panel(canvas, rng, PanelGeometry(order, quad, True), 3, style)


def render_textstory(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo
) -> RenderedPage:
    style = book.style
    canvas = Canvas(PAGE_SIZE, style.paper)
    x0, y0, x1, y1 = _margins(style, PAGE_SIZE)
    title = corpus.story_title(rng, style.vocabulary)
    canvas.text_lines(
        [title.upper()],
        _fit_size(title.upper(), 44, x1 - x0),
        x0,
        y0,
        "title",
        center_width=x1 - x0,
    )
    canvas.text_lines(
        [f"A text story by {book.writer}"], 20, x0, y0 + 62, "body", center_width=x1 - x0
    )
    gap = 30
    col_w = (x1 - x0 - gap) // 2
    top = y0 + 110
    art = (x0, top, x0 + col_w, top + 260)
    _framed_art(canvas, rng, art, 0, style)
    size = 18
    step = _line_height(size)
    columns = [(x0, art[3] + 20), (x0 + col_w + gap, top)]
    for cx, cy in columns:
        y = cy
        while y + step <= y1:
            for line in wrap(corpus.prose_paragraph(rng, 3, style.vocabulary), size, col_w):
                if y + step > y1:
                    break
                canvas.text_lines([line], size, cx, y, "body")
                y += step
            y += step // 2
    return canvas.render("textstory", True, nprng)


def render_art(rng: random.Random, nprng: np.random.Generator, book: BookInfo) -> RenderedPage:
    style = book.style
    canvas = Canvas(PAGE_SIZE, style.paper)
    x0, y0, x1, y1 = _margins(style, PAGE_SIZE)
    scene, _ = draw_scene(rng, x1 - x0, y1 - y0, style, figures=1)
    canvas.image.paste(scene, (x0, y0))
    canvas.panels.append(PanelTruth(quad_bbox(((x0, y0), (x1, y0), (x1, y1), (x0, y1))), 0, False))
    signature = f"Pin-up by {book.artist}"
    sw = math.ceil(font(22).getlength(signature))
    canvas.draw.rectangle([x1 - sw - 40, y1 - 60, x1 - 12, y1 - 16], fill=WHITE)
    canvas.text_lines([signature], 22, x1 - sw - 26, y1 - 52, "body", panel=0)
    return canvas.render("art", True, nprng)


def render_back_cover(
    rng: random.Random, nprng: np.random.Generator, book: BookInfo
) -> RenderedPage:
    w, h = PAGE_SIZE
    canvas = Canvas(PAGE_SIZE, book.style.paper)
    canvas.text_lines(
        ["NEXT ISSUE!"], 72, 40, 50, "title", fill=(220, 30, 30), center_width=w - 80, stroke=3
    )
    _framed_art(canvas, rng, (80, 170, w - 80, 820), 0, book.style)
    teaser = f"{book.series}: {corpus.story_title(rng, book.style.vocabulary)}. Do not miss it!"
    y = 860
    for line in wrap(teaser, 30, w - 120):
        canvas.text_lines([line], 30, 60, y, "title", center_width=w - 120)
        y += _line_height(30)
    # barcode
    bx, by = w - 260, h - 170
    canvas.draw.rectangle([bx - 10, by - 10, bx + 210, by + 120], fill=WHITE, outline=BLACK)
    x = bx
    while x < bx + 200:
        bar = rng.choice([2, 3, 5])
        canvas.draw.rectangle([x, by, x + bar - 1, by + 80], fill=BLACK)
        x += bar + rng.choice([2, 3, 4])
    canvas.text_lines([f"{book.year} {book.issue:>03}"], 18, bx, by + 86, "body", center_width=200)
    return canvas.render("back_cover", True, nprng)


def render_non_comic(rng: random.Random, nprng: np.random.Generator, kind: str) -> RenderedPage:
    """Pollution: a computing-book text page (``text``), a blank page or a dark page."""
    if kind == "white":
        canvas = Canvas(PAGE_SIZE, WHITE)
        return canvas.render("non_comic", False, nprng, noise=1)
    if kind == "dark":
        canvas = Canvas(PAGE_SIZE, (14, 13, 16))
        return canvas.render("non_comic", False, nprng, noise=4)
    canvas = Canvas(PAGE_SIZE, WHITE)
    x0, y0, x1, y1 = 60, 60, PAGE_SIZE[0] - 60, PAGE_SIZE[1] - 60
    canvas.text_lines([rng.choice(corpus.COMPUTING_HEADINGS)], 30, x0, y0, "title")
    y = y0 + 70
    code = rng.choice(corpus.CODE_BLOCKS)
    code_h = len(code) * _line_height(18) + 24
    code_at = rng.randint(1, 2)
    for i in range(12):
        if i == code_at and y + code_h < y1 - 40:
            canvas.draw.rectangle(
                [x0, y, x1, y + code_h], fill=(238, 238, 238), outline=(150, 150, 150)
            )
            yy = y + 12
            for line in code:
                indent = (len(line) - len(line.lstrip())) * 5
                canvas.text_lines([line.strip()], 18, x0 + 16 + indent, yy, "body")
                yy += _line_height(18)
            y += code_h + 24
        paragraph = corpus.computing_paragraph(rng, 2)
        if y + len(wrap(paragraph, 19, x1 - x0)) * _line_height(19) > y1 - 40:
            break
        y = canvas.paragraph(paragraph, 19, x0, y, x1 - x0) + 18
    canvas.text_lines([str(rng.randint(100, 400))], 18, x0, y1, "body", center_width=x1 - x0)
    return canvas.render("non_comic", False, nprng, noise=2)
