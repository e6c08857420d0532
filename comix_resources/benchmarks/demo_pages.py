"""The demo library's pages as the pipeline sees them: read from the book files, with truth.

Pages come out of the real book files through ``iter_pages`` (PDF, CBZ, CB7, CBT, CBT.GZ, app
downloads, loose pages), so a benchmark measures what extraction actually yields, not the
in-memory renders of the demo generator. Ids follow the lake contract (``book_id`` from the
file's bytes, ``page_id`` = ``<book_id>-<page_index:04d>``); ``label`` is the readable name
used in failure lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.demo import demo_book_id, demo_book_pages
from comix_resources.ids import page_id
from comix_resources.images import load_rgb

TRUTH_SUFFIX = ".truth.json"


@dataclass(frozen=True)
class DemoBook:
    path: Path
    book_id: str
    truth: dict[str, Any]

    @property
    def rtl(self) -> bool:
        return self.truth.get("reading_direction") == "rtl"


@dataclass(frozen=True)
class DemoPage:
    page_id: str
    book: DemoBook
    page_index: int
    data: bytes  # the exact extracted bytes (what OCR and the lake get)
    ext: str
    width: int
    height: int
    truth: dict[str, Any]  # the truth page, boxes in the truth's own pixel grid

    @property
    def label(self) -> str:
        """``<book file> p<index> (<page_type>)``: what a person reading a failure list needs."""
        return f"{self.book.path.name} p{self.page_index} ({self.truth['page_type']})"

    @property
    def scale(self) -> tuple[float, float]:
        """Factors from truth pixels to extracted pixels (a PDF may render at another size)."""
        return self.width / self.truth["width"], self.height / self.truth["height"]

    def scaled(self, box: list[float]) -> list[float]:
        sx, sy = self.scale
        x, y, w, h = box
        return [x * sx, y * sy, w * sx, h * sy]

    def truth_panel_boxes(self) -> list[list[float]]:
        """Truth panels in truth reading order, in extracted-page pixels."""
        panels = sorted(self.truth["panels"], key=lambda p: p["order"])
        return [self.scaled(p["bbox"]) for p in panels]

    def rgb(self) -> np.ndarray:
        return load_rgb(self.data)


def demo_books(library: Path) -> list[DemoBook]:
    """One file per book of the demo library, in path order.

    A Calibre book stored in two formats (Captain Comet #001 as CBZ and PDF) is the same book
    with the same pages: it is counted once (the first path in sorted order) so that it does
    not weigh twice in the figures. Both formats' readers are exercised by other books.
    """
    books: list[DemoBook] = []
    seen: set[tuple[str, str]] = set()
    for truth_path in sorted(Path(library).rglob(f"*{TRUTH_SUFFIX}")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        key = (truth["source"], truth["title"])
        if key in seen:
            continue
        seen.add(key)
        path = truth_path.with_name(truth_path.name.removesuffix(TRUTH_SUFFIX))
        books.append(DemoBook(path, demo_book_id(path, truth), truth))
    return books


def iter_demo_pages(library: Path) -> Iterator[DemoPage]:
    """Every readable page of every demo book with its truth; unreadable pages are skipped
    (the demo library has none, and a benchmark that silently lost pages would show it in
    its page count)."""
    for book in demo_books(library):
        truth_by_index = {p["page_index"]: p for p in book.truth["pages"]}
        for page in demo_book_pages(book.path, book.truth):
            truth = truth_by_index.get(page.index)
            if page.data is None or truth is None:
                continue
            yield DemoPage(
                page_id(book.book_id, page.index),
                book,
                page.index,
                page.data,
                page.ext,
                page.width,
                page.height,
                truth,
            )
