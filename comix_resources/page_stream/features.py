"""Per-page inputs of page stream segmentation: page rows, scalar features, encoded books.

A *page row* is a plain dict; only ``page_id``, ``book_id`` and ``page_index`` are required::

    {"page_id", "book_id", "page_index",
     "path": image path for the image loader (pages.parquet ``path``),
     "sha256": image bytes' hash (pages.parquet), the vision cache key when present,
     "text": the page's OCR text, joined (page_text.parquet ``items[].text``),
     "is_comic": bool (page_quality.parquet; missing -> True),
     "flags": list[str] (page_quality), "panel_count": int (picture panels, page_quality),
     "text_area_fraction", "art_fraction": float (page_quality), "text_box_count": int,
     "label": a page class or None (training data only)}

``page_rows(pages, page_text, page_quality)`` builds them from the lake tables;
``book_scalars(rows)`` computes ``SCALAR_FEATURES`` for one book's rows (the rule fallback
reads nothing else); ``encode_books(rows, image_loader, vision_encoder, text_encoder)``
groups rows by book into ``BookFeatures`` with the encoders' page vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from comix_resources.encoders import cached_encode
from comix_resources.ids import sha256_bytes
from comix_resources.page_classes import normalise_page_class

if TYPE_CHECKING:
    import polars as pl
    from PIL import Image

    from comix_resources.encoders import Encoder, EncoderSettings, FeatureCache
    from comix_resources.lake import Lake

# Raw values (counts are counts, fractions are fractions): the rules read them as they are
# and the model squashes them with a signed log1p.
SCALAR_FEATURES: tuple[str, ...] = (
    "position",  # page_index / (pages - 1), 0 for a one-page book
    "is_first",
    "is_last",
    "is_first_comic",  # first page that the quality filter calls comic
    "is_last_comic",
    "is_comic",
    "panel_count",
    "text_chars",
    "text_box_count",
    "text_area_fraction",
    "art_fraction",
)
SCALAR_INDEX = {name: i for i, name in enumerate(SCALAR_FEATURES)}


@dataclass
class BookFeatures:
    """One book's pages in reading order, as arrays the rules and the model read.

    ``vision`` (n, Dv) and ``text`` (n, Dt) are None until encoded; ``labels`` holds page
    classes (None where unknown) for training and evaluation.
    """

    book_id: str
    page_ids: list[str]
    page_indices: list[int]
    scalars: np.ndarray
    vision: np.ndarray | None = None
    text: np.ndarray | None = None
    labels: list[str | None] = field(default_factory=list)
    group: str | None = None  # books of one group stay on one side of a split

    def __len__(self) -> int:
        return len(self.page_ids)

    def scalar(self, name: str) -> np.ndarray:
        return self.scalars[:, SCALAR_INDEX[name]]


def book_scalars(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``SCALAR_FEATURES`` (n, 11) for one book's rows, which must be in page order."""
    n = len(rows)
    out = np.zeros((n, len(SCALAR_FEATURES)), np.float32)
    comic = np.array([_is_comic(row) for row in rows], dtype=bool)
    comic_pages = np.flatnonzero(comic)
    for i, row in enumerate(rows):
        text = row.get("text") or ""
        out[i] = (
            i / (n - 1) if n > 1 else 0.0,
            i == 0,
            i == n - 1,
            len(comic_pages) > 0 and i == comic_pages[0],
            len(comic_pages) > 0 and i == comic_pages[-1],
            comic[i],
            _number(row.get("panel_count")),
            len(text.strip()),
            _number(row.get("text_box_count")),
            _number(row.get("text_area_fraction")),
            _number(row.get("art_fraction")),
        )
    return out


def _is_comic(row: Mapping[str, Any]) -> bool:
    value = row.get("is_comic")
    return True if value is None else bool(value)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    value = float(value)
    return 0.0 if math.isnan(value) else value


def group_books(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows by ``book_id``, each book's rows sorted by ``page_index``; books in id order."""
    books: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        books.setdefault(str(row["book_id"]), []).append(row)
    return {
        book: sorted(pages, key=lambda r: int(r["page_index"]))
        for book, pages in sorted(books.items())
    }


def book_features(rows: Iterable[Mapping[str, Any]]) -> list[BookFeatures]:
    """``BookFeatures`` without encoder vectors (enough for the rules), one per book."""
    out = []
    for book_id, pages in group_books(rows).items():
        out.append(
            BookFeatures(
                book_id=book_id,
                page_ids=[str(r["page_id"]) for r in pages],
                page_indices=[int(r["page_index"]) for r in pages],
                scalars=book_scalars(pages),
                labels=[normalise_page_class(r.get("label")) for r in pages],
                group=pages[0].get("group"),
            )
        )
    return out


def encode_books(
    rows: Iterable[Mapping[str, Any]],
    image_loader: Callable[[str], Image.Image],
    vision_encoder: Encoder,
    text_encoder: Encoder,
    cache: FeatureCache | None = None,
    pages_per_batch: int = 32,
) -> list[BookFeatures]:
    """``BookFeatures`` with a whole-page vision vector and an OCR-text vector per page.

    ``image_loader(row["path"])`` returns the page image (in assets,
    ``encoders``' lake image loader, as pages.parquet paths are
    lake-relative). Vision vectors are cached by the row's ``sha256`` when it has one (so a
    cached page is never read), else by a hash of the decoded pixels, both prefixed with
    ``page:`` so that a cache shared with Closure Lite's panel crops never mixes them up; text
    vectors by a hash of the text. A page without text gets a zero text vector, which the
    model learns to read as "no text".
    """
    rows = list(rows)
    books = book_features(rows)
    by_book = group_books(rows)
    for book in books:
        pages = by_book[book.book_id]
        vision = np.zeros((len(pages), vision_encoder.dim), np.float32)
        text = np.zeros((len(pages), text_encoder.dim), np.float32)
        for start in range(0, len(pages), pages_per_batch):
            chunk = pages[start : start + pages_per_batch]
            image_items: dict[str, Any] = {}
            image_keys = []
            for row in chunk:
                if row.get("sha256"):
                    key = f"page:{row['sha256']}"
                    image_items[key] = lambda r=row: image_loader(r["path"])
                else:
                    image = image_loader(row["path"]).convert("RGB")
                    key = "page:" + sha256_bytes(f"{image.size}".encode() + image.tobytes())
                    image_items[key] = image
                image_keys.append(key)
            texts = {
                sha256_bytes(t.encode()): t for r in chunk if (t := (r.get("text") or "").strip())
            }
            vision_vectors = cached_encode(vision_encoder, image_items, cache)
            text_vectors = cached_encode(text_encoder, texts, cache)
            for j, row in enumerate(chunk):
                vision[start + j] = vision_vectors[image_keys[j]]
                t = (row.get("text") or "").strip()
                if t:
                    text[start + j] = text_vectors[sha256_bytes(t.encode())]
        book.vision, book.text = vision, text
    return books


def page_rows(
    pages: pl.DataFrame,
    page_text: pl.DataFrame | None = None,
    page_quality: pl.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Page rows from the lake tables of a collection (pages with ``status == "ok"``).

    ``page_text``: rows with ``status == "ok"`` give ``text`` (the items' texts joined by
    newlines, in the engine's order). ``page_quality``: ``is_comic``, ``flags``,
    ``panel_count``, ``text_area_fraction``, ``art_fraction``, ``text_box_count``. A page
    missing from either table gets no text, or counts as comic with unknown measurements.
    """
    import polars as pl

    readable = pages.filter(pl.col("status") == "ok") if "status" in pages.columns else pages
    texts: dict[str, str] = {}
    if page_text is not None:
        ok = (
            page_text.filter(pl.col("status") == "ok")
            if "status" in page_text.columns
            else page_text
        )
        for row in ok.select("page_id", "items").iter_rows(named=True):
            texts[row["page_id"]] = "\n".join(
                item["text"] for item in row["items"] or [] if item and item.get("text")
            )
    quality: dict[str, dict[str, Any]] = {}
    quality_columns = [
        c
        for c in (
            "is_comic",
            "flags",
            "panel_count",
            "text_area_fraction",
            "art_fraction",
            "text_box_count",
        )
        if page_quality is not None and c in page_quality.columns
    ]
    if page_quality is not None:
        for row in page_quality.select("page_id", *quality_columns).iter_rows(named=True):
            quality[row["page_id"]] = row
    rows = []
    columns = [
        c for c in ("page_id", "book_id", "page_index", "path", "sha256") if c in readable.columns
    ]
    for page in readable.select(columns).iter_rows(named=True):
        q = quality.get(page["page_id"], {})
        rows.append(
            {
                **page,
                "text": texts.get(page["page_id"], ""),
                **{c: q.get(c) for c in quality_columns},
            }
        )
    return rows


def encode_lake_books(
    lake: Lake, rows: Iterable[Mapping[str, Any]], settings: EncoderSettings
) -> list[BookFeatures]:
    """``encode_books`` of page rows whose images are in ``lake`` (pages.parquet paths)."""
    from comix_resources.encoders import lake_image_loader, open_encoders

    with open_encoders(settings) as encoders:
        return encode_books(
            rows, lake_image_loader(lake), encoders.vision, encoders.text, encoders.cache
        )
