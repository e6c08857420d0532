"""Training pages for the learned panel detector, with exact truth (a set apart from the demo).

The demo library's pages are tidy: every panel framed, a gutter on every side, guillotine
layouts. Real pages are not, and the learned detector must see what they do: panels that
overlap or inset one another, pinwheel layouts where no straight gutter crosses the page,
panels that share one frame line with no gutter, open frames, borders broken by balloons and
figures, caption boxes inside frames, art that bleeds off the page, painted frameless panels,
black gutters, title lines and page numbers on the margin (not panels), prose pages (no
panel), covers (one panel), and the look of old prints and scans: yellowed paper, halftone
screens, grain, blur, skew and JPEG.

``detector_page(seed)`` draws one page; ``write_detector_pages(folder, count)`` writes a set
as JPEGs with ``annotations.json`` (COCO, CoMix category ids). The demo library's generator is
only read from here (art, styles, lettering), so the demo library stays byte-identical.
``python -m comix_resources.demo.detector_pages FOLDER --pages N`` writes a set from a shell.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from comix_resources.demo import corpus
from comix_resources.demo.drawing import draw_scene, font, wrap
from comix_resources.demo.style import book_style

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
Box = tuple[int, int, int, int]  # x, y, w, h
Color = tuple[int, int, int]

PANEL, TEXT = "panel", "text"
# CoMix category ids (``detection.CATEGORY_IDS``), repeated so the generator needs no detector.
CATEGORY_IDS = {PANEL: 1, "character": 2, TEXT: 4, "face": 7}
BLACK: Color = (0, 0, 0)


@dataclass
class DetectorPage:
    """One generated page: RGB pixels and truth boxes ``(x, y, w, h)`` by category."""

    image: np.ndarray
    panels: list[Box]
    texts: list[Box]
    kind: str  # story, cover, prose


@dataclass
class _Panel:
    rect: Rect
    frame: int  # 0: frameless
    open_sides: tuple[str, ...] = ()
    painted: bool = False


def _split(rng: random.Random, rect: Rect, gutter: int, depth: int = 0) -> list[Rect]:
    """Random guillotine cuts of ``rect`` into panels of a plausible size."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    can_rows, can_cols = h >= 2 * 150, w >= 2 * 150
    if depth >= 3 or not (can_rows or can_cols) or (depth > 0 and rng.random() < 0.28):
        return [rect]
    by_rows = can_rows and (not can_cols or h / w > 0.9 or rng.random() < 0.35)
    span = h if by_rows else w
    n = min(rng.choice([2, 2, 3, 3]), span // 150)
    weights = [rng.uniform(0.7, 1.4) for _ in range(n)]
    total, edges, acc = sum(weights), [0], 0.0
    for wt in weights[:-1]:
        acc += wt
        edges.append(round(span * acc / total))
    edges.append(span)
    pieces = []
    for i in range(n):
        a = edges[i] + (gutter // 2 if i else 0)
        b = edges[i + 1] - ((gutter - gutter // 2) if i < n - 1 else 0)
        child = (x0, y0 + a, x1, y0 + b) if by_rows else (x0 + a, y0, x0 + b, y1)
        pieces += _split(rng, child, gutter, depth + 1)
    return pieces


def _pinwheel(rect: Rect, gutter: int, rng: random.Random) -> list[Rect]:
    """Four panels around a fifth: no straight gutter crosses the page (not guillotine)."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    a, b = x0 + round(w * rng.uniform(0.3, 0.42)), x0 + round(w * rng.uniform(0.58, 0.7))
    c, d = y0 + round(h * rng.uniform(0.3, 0.42)), y0 + round(h * rng.uniform(0.58, 0.7))
    g = gutter // 2
    return [
        (x0, y0, b - g, c - g),
        (b + g, y0, x1, d - g),
        (a + g, c + g, b - g, d - g),
        (x0, c + g, a - g, y1),
        (a + g, d + g, x1, y1),
    ]


def _layout(rng: random.Random, rect: Rect) -> list[_Panel]:
    gutter = rng.choice([0, 0, 4, 8, 10, 12, 14, 16, 20, 26]) if rng.random() < 0.8 else 14
    if rng.random() < 0.12:
        rects = _pinwheel(rect, max(gutter, 6), rng)
    else:
        rects = _split(rng, rect, gutter)
    frame = rng.choice([1, 2, 2, 3, 3, 4, 5])
    painted = rng.random() < 0.15
    panels = []
    for r in rects:
        open_sides: tuple[str, ...] = ()
        if not painted and rng.random() < 0.08:
            open_sides = tuple(rng.sample(["top", "bottom", "left", "right"], rng.randint(1, 2)))
        frameless = painted or rng.random() < 0.05
        panels.append(_Panel(r, 0 if frameless else frame, open_sides, painted))
    if panels and rng.random() < 0.2:  # an inset over a big panel, or two panels overlapping
        big = max(panels, key=lambda p: (p.rect[2] - p.rect[0]) * (p.rect[3] - p.rect[1]))
        x0, y0, x1, y1 = big.rect
        iw, ih = (
            round((x1 - x0) * rng.uniform(0.25, 0.45)),
            round((y1 - y0) * rng.uniform(0.25, 0.45)),
        )
        ix = x0 + round(rng.uniform(0.0, 1.0) * (x1 - x0 - iw))
        iy = y0 + round(rng.uniform(0.0, 1.0) * (y1 - y0 - ih))
        if min(iw, ih) >= 60:
            panels.append(_Panel((ix, iy, ix + iw, iy + ih), max(2, frame)))
    return panels


def _bleed(panels: list[_Panel], rect: Rect, size: tuple[int, int], rng: random.Random) -> None:
    """Panels on the trim run off the page edge (full bleed)."""
    width, height = size
    for p in panels:
        x0, y0, x1, y1 = p.rect
        if rng.random() < 0.5:
            x0 = 0 if x0 == rect[0] else x0
            y0 = 0 if y0 == rect[1] else y0
            x1 = width if x1 == rect[2] else x1
            y1 = height if y1 == rect[3] else y1
            p.rect = (x0, y0, x1, y1)


def _paint(image: Image.Image, p: _Panel, style, rng: random.Random) -> None:
    x0, y0, x1, y1 = p.rect
    w, h = x1 - x0, y1 - y0
    art, _ = draw_scene(rng, w, h, style)
    if p.painted:  # soft painted colour, no black line art to find edges by
        art = art.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6)))
    image.paste(art, (x0, y0))
    if p.frame:
        draw = ImageDraw.Draw(image)
        sides = {
            "top": [(x0, y0), (x1 - 1, y0)],
            "bottom": [(x0, y1 - 1), (x1 - 1, y1 - 1)],
            "left": [(x0, y0), (x0, y1 - 1)],
            "right": [(x1 - 1, y0), (x1 - 1, y1 - 1)],
        }
        for side, line in sides.items():
            if side in p.open_sides:
                continue
            draw.line(line, fill=BLACK, width=p.frame)
        for side in p.open_sides:  # the art behind an open side is the paper's colour
            band = max(6, p.frame * 3)
            box = {
                "top": (x0, y0, x1, y0 + band),
                "bottom": (x0, y1 - band, x1, y1),
                "left": (x0, y0, x0 + band, y1),
                "right": (x1 - band, y0, x1, y1),
            }[side]
            draw.rectangle(box, fill=image.getpixel((2, 2)))


def _caption(draw: ImageDraw.ImageDraw, p: _Panel, style, rng: random.Random) -> Box | None:
    """A caption box in a panel's top-left corner, sharing its frame lines."""
    x0, y0, x1, y1 = p.rect
    w, h = x1 - x0, y1 - y0
    cw, ch = round(w * rng.uniform(0.4, 1.0)), round(h * rng.uniform(0.12, 0.25))
    if ch < 24:
        return None
    fill = rng.choice([(255, 255, 255), (255, 236, 150), (250, 240, 210), style.caption_fill])
    draw.rectangle((x0, y0, x0 + cw, y0 + ch), fill=fill, outline=BLACK, width=max(1, p.frame))
    size = max(10, min(22, ch // 3))
    lines = wrap(corpus.narration(rng).upper(), size, cw - 12)[: max(1, (ch - 8) // (size + 4))]
    for i, line in enumerate(lines):
        draw.text((x0 + 6, y0 + 4 + i * (size + 4)), line, font=font(size), fill=BLACK)
    return (x0, y0, cw, ch)


def _balloon(
    draw: ImageDraw.ImageDraw, p: _Panel, rng: random.Random, crossing: bool
) -> Box | None:
    """A speech balloon inside the panel, or pushed over its frame (a broken border)."""
    x0, y0, x1, y1 = p.rect
    w, h = x1 - x0, y1 - y0
    bw, bh = round(w * rng.uniform(0.3, 0.6)), round(h * rng.uniform(0.15, 0.3))
    if bw < 40 or bh < 24:
        return None
    bx = x0 + round(rng.uniform(0.02, 0.98) * (w - bw))
    by = y0 + round(rng.uniform(0.02, 0.6) * (h - bh))
    if crossing:
        by = y0 - bh // 2 if rng.random() < 0.5 else y1 - bh // 2
    draw.ellipse((bx, by, bx + bw, by + bh), fill=(252, 252, 252), outline=BLACK, width=2)
    size = max(9, min(20, bh // 4))
    words = wrap(corpus.dialogue(rng).upper(), size, bw * 0.7)
    for i, line in enumerate(words[: max(1, bh // (size + 6) - 1)]):
        tx = bx + bw // 2 - round(font(size).getlength(line) / 2)
        draw.text((tx, by + bh // 4 + i * (size + 3)), line, font=font(size), fill=BLACK)
    return (bx, by, bw, bh)


def _margin_text(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random) -> None:
    """A title line or page number on the paper margin: text, never a panel."""
    width, height = size
    if rng.random() < 0.5:
        fs = rng.randint(14, 30)
        draw.text(
            (rng.randint(10, width // 3), rng.choice([4, height - fs - 6])),
            corpus.story_title(rng).upper(),
            font=font(fs),
            fill=BLACK,
        )
    else:
        draw.text((width // 2, height - 22), str(rng.randint(2, 60)), font=font(14), fill=BLACK)


def _story(rng: random.Random, size: tuple[int, int], style) -> tuple[Image.Image, list, list]:
    width, height = size
    paper = (8, 8, 8) if rng.random() < 0.06 else style.paper
    image = Image.new("RGB", size, paper)
    mx, my = round(width * rng.uniform(0.02, 0.07)), round(height * rng.uniform(0.02, 0.06))
    rect = (mx, my, width - mx, height - my)
    panels = _layout(rng, rect)
    if rng.random() < 0.15:
        _bleed(panels, rect, size, rng)
    texts: list[Box] = []
    draw = ImageDraw.Draw(image)
    for p in panels:
        _paint(image, p, style, rng)
        if rng.random() < 0.35:
            box = _caption(draw, p, style, rng)
            texts += [box] if box else []
        for _ in range(rng.choice([0, 1, 1, 2])):
            box = _balloon(draw, p, rng, crossing=rng.random() < 0.15)
            texts += [box] if box else []
    if rng.random() < 0.4:
        _margin_text(draw, size, rng)
    boxes = [(p.rect[0], p.rect[1], p.rect[2] - p.rect[0], p.rect[3] - p.rect[1]) for p in panels]
    return image, boxes, texts


def _cover(rng: random.Random, size: tuple[int, int], style) -> tuple[Image.Image, list, list]:
    """Full-page art with a logo, corner box and blurbs inside: one panel by convention."""
    width, height = size
    image = Image.new("RGB", size, style.paper)
    margin = 0 if rng.random() < 0.6 else rng.randint(10, 40)
    art, _ = draw_scene(rng, width - 2 * margin, height - 2 * margin, style, figures=2)
    image.paste(art, (margin, margin))
    draw = ImageDraw.Draw(image)
    draw.rectangle((margin, margin, width - margin, margin + height // 7), fill=style.sfx_colors[0])
    draw.text(
        (margin + 20, margin + 10), corpus.story_title(rng).upper(), font=font(48), fill=BLACK
    )
    if rng.random() < 0.6:  # the corner box with the price and issue number
        draw.rectangle(
            (margin, margin, margin + 90, margin + 110),
            fill=(250, 250, 250),
            outline=BLACK,
            width=3,
        )
    if rng.random() < 0.5:  # a framed story-preview inset, part of the cover art
        bx, by = rng.randint(margin + 20, width // 2), rng.randint(height // 3, height // 2)
        draw.rectangle(
            (bx, by, bx + width // 4, by + height // 6),
            fill=(230, 220, 180),
            outline=BLACK,
            width=4,
        )
    return image, [(margin, margin, width - 2 * margin, height - 2 * margin)], []


def _prose(rng: random.Random, size: tuple[int, int], style) -> tuple[Image.Image, list, list]:
    """A text story: columns of prose, maybe a title, no panel."""
    width, height = size
    image = Image.new("RGB", size, style.paper)
    draw = ImageDraw.Draw(image)
    columns = rng.choice([1, 2, 2])
    fs = rng.randint(12, 17)
    col_w = (width - 80) // columns
    for c in range(columns):
        y = rng.randint(40, 120) if c == 0 else 40
        while y < height - 60:
            for line in wrap(corpus.prose_paragraph(rng), fs, col_w - 20):
                if y >= height - 60:
                    break
                draw.text((40 + c * col_w, y), line, font=font(fs), fill=BLACK)
                y += fs + 4
            y += fs
    return image, [], []


def _age(image: Image.Image, rng: random.Random, np_rng: np.random.Generator) -> np.ndarray:
    """Print and scan: yellowing, halftone screen, grain, blur."""
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:  # yellowed paper, darker toward the edges
        tint = np.array([1.0, rng.uniform(0.9, 0.98), rng.uniform(0.7, 0.9)], np.float32)
        pixels *= tint
    if rng.random() < 0.3:  # halftone dots over the colour
        step = rng.randint(3, 6)
        yy, xx = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
        dots = ((xx % step) - step / 2) ** 2 + ((yy % step) - step / 2) ** 2 < (0.3 * step) ** 2
        pixels[dots] *= 0.85
    if rng.random() < 0.7:
        pixels += np_rng.normal(0, rng.uniform(2, 10), pixels.shape[:2])[:, :, None]
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    return np.asarray(out)


def _skew(
    pixels: np.ndarray, boxes: list[list[Box]], angle: float, paper: Color
) -> tuple[np.ndarray, list[list[Box]]]:
    """Rotate the page a little (a skewed scan); truth boxes become their rotated boxes."""
    import cv2

    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    turned = cv2.warpAffine(pixels, matrix, (width, height), borderValue=paper)
    out = []
    for group in boxes:
        moved = []
        for x, y, w, h in group:
            corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]])
            pts = corners @ matrix.T
            x0, y0 = max(0, math.floor(pts[:, 0].min())), max(0, math.floor(pts[:, 1].min()))
            x1 = min(width, math.ceil(pts[:, 0].max()))
            y1 = min(height, math.ceil(pts[:, 1].max()))
            moved.append((x0, y0, x1 - x0, y1 - y0))
        out.append(moved)
    return turned, out


def detector_page(seed: int, size: tuple[int, int] | None = None) -> DetectorPage:
    """One training page from ``seed`` (same seed, same page)."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    if size is None:
        width = rng.choice([640, 720, 800])
        size = (width, round(width * rng.uniform(1.38, 1.55)))
    style = book_style(rng)
    roll = rng.random()
    kind = "story" if roll < 0.86 else "cover" if roll < 0.93 else "prose"
    draw = {"story": _story, "cover": _cover, "prose": _prose}[kind]
    image, panels, texts = draw(rng, size, style)
    pixels = _age(image, rng, np_rng)
    if rng.random() < 0.3:
        paper = tuple(int(v) for v in pixels[2, 2])
        pixels, (panels, texts) = _skew(pixels, [panels, texts], rng.uniform(-1.5, 1.5), paper)
    height, width = pixels.shape[:2]
    return DetectorPage(pixels, _clip(panels, width, height), _clip(texts, width, height), kind)


def _clip(boxes: list[Box], width: int, height: int) -> list[Box]:
    """Boxes cut to the page (a balloon over the bottom frame may run off it)."""
    out = []
    for x, y, w, h in boxes:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def write_detector_pages(folder: Path, count: int, seed: int = 1000) -> Path:
    """``count`` pages as ``NNNNN.jpg`` plus ``annotations.json`` (COCO) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        page = detector_page(seed + i)
        name = f"{i:05d}.jpg"
        buffer = io.BytesIO()
        quality = random.Random(seed + i).randint(60, 92)
        Image.fromarray(page.image).save(buffer, "JPEG", quality=quality)
        (folder / name).write_bytes(buffer.getvalue())
        height, width = page.image.shape[:2]
        images.append(
            {"id": i, "file_name": name, "width": width, "height": height, "kind": page.kind}
        )
        for category, boxes in ((PANEL, page.panels), (TEXT, page.texts)):
            for box in boxes:
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": i,
                        "category_id": CATEGORY_IDS[category],
                        "bbox": list(box),
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": v, "name": k} for k, v in CATEGORY_IDS.items()]
    path = folder / "annotations.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories}),
        encoding="utf-8",
    )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m comix_resources.demo.detector_pages")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    print(write_detector_pages(args.folder, args.pages, args.seed))


if __name__ == "__main__":
    main()
