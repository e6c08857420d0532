"""OCR speed and accuracy on pages with known text.

``python -m comix_resources.benchmarks.ocr [--demo-pages N] [--repeats R]`` prints a JSON report:
pages per second of ``OcrEngine`` on the drawn sample page, and, with ``--demo-pages``,
recall and kind accuracy on story pages of the demo library (drawn in memory, with truth).
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from comix_resources.boxes import iou
from comix_resources.text.base import KINDS, TextItem
from comix_resources.text.ocr import OcrEngine


@dataclass(frozen=True)
class TruthPage:
    """An encoded page and its texts: ``{"text", "kind", "bbox": [x, y, w, h]}``."""

    image: bytes
    width: int
    height: int
    texts: tuple[dict[str, Any], ...]


def sample_page() -> TruthPage:
    """An 800x1200 two-panel page: 2 yellow captions, 3 white balloons and a "KRAKOOM!" sfx.

    Drawn with Pillow's bundled font, so it needs no system font and is identical everywhere.
    """
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (800, 1200), (250, 246, 232))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=22)
    big = ImageFont.load_default(size=72)
    texts: list[dict[str, Any]] = []

    def write(lines: list[str], x: int, y: int, kind: str, f: Any = font, **style: Any) -> None:
        fill = style.pop("fill", (0, 0, 0))
        boxes = []
        for i, line in enumerate(lines):
            pos = (x, y + i * round(f.size * 1.3))
            draw.text(pos, line, font=f, fill=fill, **style)
            stroke = style.get("stroke_width", 0)
            boxes.append(draw.textbbox(pos, line, font=f, stroke_width=stroke))
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        texts.append({"text": " ".join(lines), "kind": kind, "bbox": [x0, y0, x1 - x0, y1 - y0]})

    def balloon(box: tuple[int, int, int, int], tail: tuple[int, int]) -> None:
        cx, bottom = (box[0] + box[2]) // 2, box[3] - 10
        draw.polygon(
            [(cx - 25, bottom), tail, (cx + 25, bottom)], fill="white", outline="black", width=2
        )
        draw.ellipse(box, fill="white", outline="black", width=2)

    skies = {(30, 30, 770, 590): (150, 190, 235), (30, 620, 770, 1170): (190, 225, 190)}
    for (x0, y0, x1, y1), sky in skies.items():
        draw.rectangle((x0, y0, x1, y1), fill=sky, outline="black", width=4)
        draw.rectangle((x0 + 4, y1 - 160, x1 - 4, y1 - 4), fill=(120, 100, 80))
    caption_yellow = (255, 236, 150)
    draw.rectangle((40, 40, 420, 112), fill=caption_yellow, outline="black", width=2)
    write(["Meanwhile, across the city", "the storm was gathering."], 52, 50, "narration")
    balloon((400, 140, 750, 290), (520, 360))
    write(["Where did you hide", "the golden key?"], 470, 180, "dialogue")
    write(
        ["KRAKOOM!"], 90, 380, "sfx", big, fill=(230, 40, 30), stroke_width=3, stroke_fill=(0, 0, 0)
    )
    balloon((50, 640, 420, 780), (200, 850))
    write(["I never had it,", "I swear!"], 120, 672, "dialogue")
    balloon((420, 800, 760, 930), (600, 990))
    write(["Then who took it?"], 490, 852, "dialogue")
    draw.rectangle((440, 1090, 760, 1160), fill=caption_yellow, outline="black", width=2)
    write(["The answer waited", "in the lighthouse."], 452, 1096, "narration")

    buf = io.BytesIO()
    image.save(buf, "PNG")
    return TruthPage(buf.getvalue(), image.width, image.height, tuple(texts))


def demo_pages(limit: int = 12, seed: int = 7) -> list[TruthPage]:
    """Story pages of the demo library's books (JPEG, as the books hold them), with truth."""
    from comix_resources.demo.library import CATALOG, render_book

    pages: list[TruthPage] = []
    for plan in CATALOG:
        book = render_book(plan, seed)
        for encoded, truth in zip(book.pages, book.truth_pages, strict=True):
            if truth["page_type"] not in ("story", "first-page"):
                continue
            texts = tuple(t for t in truth["texts"] if t["kind"] in KINDS)
            pages.append(TruthPage(encoded.data, truth["width"], truth["height"], texts))
            if len(pages) >= limit:
                return pages
    return pages


def text_ratio(a: str, b: str) -> float:
    """Similarity of two texts in 0..1, ignoring case and runs of spaces."""
    a, b = " ".join(a.lower().split()), " ".join(b.lower().split())
    return difflib.SequenceMatcher(None, a, b).ratio()


def score_items(items: Sequence[TextItem], truths: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Match each truth text to the predicted item with the most similar text among those
    whose box overlaps it (any box if none overlaps) and count what was recovered."""
    found = same_kind = 0
    for truth in truths:
        overlapping = [i for i in items if i.bbox is not None and iou(i.bbox, truth["bbox"]) > 0]
        candidates = overlapping or list(items)
        if not candidates:
            continue
        best = max(candidates, key=lambda item: text_ratio(item.text, truth["text"]))
        if text_ratio(best.text, truth["text"]) >= 0.8:
            found += 1
            same_kind += best.kind == truth["kind"]
    return {"texts": len(truths), "found": found, "same_kind": same_kind, "items": len(items)}


def run_ocr_benchmark(
    pages: Sequence[TruthPage] | None = None,
    engine: OcrEngine | None = None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Pages per second of ``engine`` (after one warm-up page) and recall against the truth.

    Scoring (``difflib``, box overlap) is inside the timed loop but costs milliseconds.

    ``recall``: share of truth texts recovered with a text similarity >= 0.8;
    ``kind_accuracy``: share of those with the right dialogue/narration/sfx label.
    """
    pages = list(pages) if pages is not None else [sample_page()]
    engine = engine or OcrEngine()
    engine.extract(pages[0].image, pages[0].width, pages[0].height)  # loads the models
    totals = {"texts": 0, "found": 0, "same_kind": 0, "items": 0}
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for page in pages:
            answer = engine.extract(page.image, page.width, page.height)
            for key, value in score_items(answer.items, page.texts).items():
                totals[key] += value
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    n = repeats * len(pages)
    return {
        "engine": engine.model,
        "pages": n,
        "seconds": round(elapsed, 3),
        "pages_per_s": round(n / elapsed, 3),
        # CPU seconds per page over all threads: what the wall clock would show on an
        # idle machine with one core, and steadier than it when the machine is shared
        "cpu_s_per_page": round(cpu / n, 3),
        "recall": round(totals["found"] / max(1, totals["texts"]), 4),
        "kind_accuracy": round(totals["same_kind"] / max(1, totals["found"]), 4),
        **{k: v // repeats for k, v in totals.items()},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo-pages", type=int, default=0, help="also score N demo pages")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--det-limit-side-len", type=int, default=1280)
    args = parser.parse_args(argv)
    engine = OcrEngine(det_limit_side_len=args.det_limit_side_len)
    report = {"sample_page": run_ocr_benchmark([sample_page()], engine, args.repeats)}
    if args.demo_pages:
        report["demo_pages"] = run_ocr_benchmark(demo_pages(args.demo_pages), engine, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
