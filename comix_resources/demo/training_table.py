"""A ``training_pages`` table built from the demo library's ground truth, for the benchmark
and end-to-end checks without running the whole pipeline.

Rows carry the columns Closure Lite reads, with the DataSpec types: page_id, book,
page_index, page_image_path (relative to ``image_root``), source, collection, page_size,
page_type, panels (panel_coords, confidence, order, text, characters, description),
character_boxes, faces, texts. A book written in several formats is taken once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from PIL import Image

from comix_resources.demo import demo_book_id, demo_book_pages, demo_truth_books

TEXT_KINDS = ("dialogue", "narration", "sfx")


def demo_training_pages(library: Path, image_root: Path) -> pl.DataFrame:
    """Comic pages with panels of every book under ``library`` (``generate_demo_library``
    output); page images are written under ``image_root``."""
    rows: list[dict[str, Any]] = []
    for book_path, truth in demo_truth_books(library):
        book_id = demo_book_id(book_path, truth)
        images = {
            page.index: page for page in demo_book_pages(book_path, truth) if page.data is not None
        }
        for page in truth["pages"]:
            index = page["page_index"]
            if not page["is_comic"] or not page["panels"] or index not in images:
                continue
            relative = f"{book_id}/{index:04d}.{images[index].ext}"
            target = Path(image_root) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(images[index].data or b"")
            rows.append(_row(truth, page, book_id, relative))
    return pl.DataFrame(rows, schema_overrides={"page_index": pl.Int64})


def _row(truth: dict, page: dict, book_id: str, image_path: str) -> dict[str, Any]:
    panels = []
    for panel in page["panels"]:
        said = [t for t in page["texts"] if t["panel"] == panel["order"]]
        panels.append(
            {
                "panel_coords": [int(v) for v in panel["bbox"]],
                "confidence": 1.0,
                "order": panel["order"],
                "text": {k: [t["text"] for t in said if t["kind"] == k] for k in TEXT_KINDS},
                "characters": [],
                "description": "",
            }
        )
    return {
        "page_id": f"{book_id}-{page['page_index']:04d}",
        "book": book_id,
        "page_index": page["page_index"],
        "page_image_path": image_path,
        "source": truth["source"],
        "collection": truth["collection"],
        "page_size": {"width": page["width"], "height": page["height"]},
        "page_type": page["page_type"],
        "panels": panels,
        "character_boxes": [],
        "faces": [],
        "texts": [
            {"text": t["text"], "kind": t["kind"], "bbox": t["bbox"], "panel": t["panel"]}
            for t in page["texts"]
        ],
    }


def file_image_loader(root: Path) -> Callable[[str], Image.Image]:
    """Loader of ``page_image_path`` values relative to ``root``."""

    def load(path: str) -> Image.Image:
        with Image.open(Path(root) / path) as image:
            return image.convert("RGB")

    return load
