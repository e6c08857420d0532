"""Labelled page rows from a demo library (``generate_demo_library``), for training, tests and
the benchmark without running the pipeline.

Rows carry what the lake tables would: a ``path`` (the page_id, which
``bytes_image_loader(rows)`` resolves to the page's ``image_bytes``) and ``sha256``; the
truth's texts joined as ``text`` (standing in for OCR); the truth's panel count; and
``is_comic``, ``flags``, ``text_area_fraction``, ``art_fraction``, ``text_box_count`` from
the real quality filter (``page_features`` and ``classify_page`` on the page image and the
truth's text boxes), so the non-comic verdict is the filter's, not the truth's. ``label``
is the truth's ``page_type``; ``group`` is the book's title, the same for a title under
every seed (see ``train.split_books``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from comix_resources.demo import demo_book_id, demo_book_pages, demo_truth_books
from comix_resources.ids import sha256_bytes


def demo_page_rows(library: str | Path) -> list[dict[str, Any]]:
    """Page rows (see the module docstring) of every book of a demo library."""
    from comix_resources.quality import classify_page, page_features

    rows: list[dict[str, Any]] = []
    for book_path, truth in demo_truth_books(library):
        book_id = demo_book_id(book_path, truth)
        images = {
            page.index: page.data
            for page in demo_book_pages(book_path, truth)
            if page.data is not None
        }
        for page in truth["pages"]:
            index = page["page_index"]
            data = images.get(index)
            if data is None:
                continue
            with Image.open(io.BytesIO(data)) as image:
                boxes = [t["bbox"] for t in page["texts"] if t.get("bbox")]
                features = page_features(image, boxes, len(page["panels"]))
            is_comic, flags, _ = classify_page(features)
            rows.append(
                {
                    "page_id": f"{book_id}-{index:04d}",
                    "book_id": book_id,
                    "page_index": index,
                    "path": f"{book_id}-{index:04d}",
                    "sha256": sha256_bytes(data),
                    "image_bytes": data,
                    "text": "\n".join(t["text"] for t in page["texts"]),
                    "is_comic": is_comic,
                    "flags": flags,
                    "panel_count": len(page["panels"]),
                    "text_area_fraction": features["text_area_fraction"],
                    "art_fraction": features["art_fraction"],
                    "text_box_count": features["text_box_count"],
                    "label": page["page_type"],
                    "group": truth["title"],
                }
            )
    return rows


def bytes_image_loader(rows: Iterable[Mapping[str, Any]]) -> Callable[[str], Image.Image]:
    """Image loader of the ``path`` values of rows that carry ``image_bytes``."""
    images = {row["path"]: row["image_bytes"] for row in rows}

    def load(path: str) -> Image.Image:
        with Image.open(io.BytesIO(images[path])) as image:
            return image.convert("RGB")

    return load
