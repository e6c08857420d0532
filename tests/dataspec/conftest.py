"""Lake-shaped tables built from the demo library's ground truth, rendered in memory."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest

from comix_resources.demo.library import CATALOG, render_book


@dataclass(frozen=True)
class TruthTables:
    pages: pl.DataFrame
    panels: pl.DataFrame
    page_text: pl.DataFrame
    truth_by_book: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def demo_truth() -> dict[str, dict[str, Any]]:
    """``book_id -> truth`` for every catalogue book (seed 7), without writing book files."""
    truth = {}
    for plan in CATALOG:
        book = render_book(plan, seed=7)
        truth[plan.key] = {"book": plan.key, "pages": book.truth_pages}
    return truth


def truth_tables(
    truth_by_book: dict[str, dict[str, Any]],
    jitter: int = 0,
    drop_panels: float = 0.0,
    seed: int = 0,
) -> TruthTables:
    """Truth panels as detections and truth text boxes as OCR items, optionally degraded:
    every box corner moved by up to ``jitter`` pixels, a share ``drop_panels`` of the panels
    missed by the "detector"."""
    rng = random.Random(seed)

    def shake(box: list[int]) -> list[int]:
        if not jitter:
            return list(box)
        x, y, w, h = box
        dx0, dy0, dx1, dy1 = (rng.randint(-jitter, jitter) for _ in range(4))
        return [x + dx0, y + dy0, max(1, w - dx0 + dx1), max(1, h - dy0 + dy1)]

    pages, panels, texts = [], [], []
    for book_id, truth in truth_by_book.items():
        for page in truth["pages"]:
            page_id = f"{book_id}-{page['page_index']:04d}"
            pages.append(
                {
                    "page_id": page_id,
                    "book_id": book_id,
                    "page_index": page["page_index"],
                    "path": f"pages/{book_id}/{page['page_index']:04d}.jpg",
                    "width": page["width"],
                    "height": page["height"],
                    "status": "ok",
                }
            )
            kept = [p for p in page["panels"] if rng.random() >= drop_panels]
            for rank, panel in enumerate(sorted(kept, key=lambda p: p["order"])):
                panels.append(
                    {
                        "page_id": page_id,
                        "category": "panel",
                        "category_id": 1,
                        "bbox": shake(panel["bbox"]),
                        "score": 1.0,
                        "order": rank,
                        "detector": "truth",
                        "detector_version": "1",
                    }
                )
            items = [
                {
                    "text": t["text"],
                    "kind": t["kind"],
                    "bbox": shake(t["bbox"]),
                    "speaker": None,
                    "panel_number": None,
                }
                for t in page["texts"]
            ]
            texts.append(
                {
                    "page_id": page_id,
                    "engine": "ocr",
                    "model": "truth",
                    "status": "ok",
                    "items": json.dumps(items),
                    "vlm": None,
                }
            )
    return TruthTables(
        pl.DataFrame(pages),
        pl.DataFrame(panels),
        pl.DataFrame(texts, schema_overrides={"vlm": pl.String}),
        truth_by_book,
    )
