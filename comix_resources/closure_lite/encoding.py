"""Closure Lite's panel encoding: DataSpec rows -> ``PanelFeatures`` through the frozen
encoders (``comix_resources.encoders``), and ``PanelCrops``, the pixels fine-tuning trains on."""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from comix_resources.closure_lite.config import MAX_PANELS
from comix_resources.closure_lite.features import (
    COMPOSITION_FEATURES,
    PanelFeatures,
    composition_features,
    page_slots,
    page_type_id,
)
from comix_resources.encoders import (
    Encoder,
    EncoderSettings,
    FeatureCache,
    cached_encode,
    efficientnet_array_pixels,
    lake_image_loader,
    open_encoders,
)
from comix_resources.ids import sha256_bytes

if TYPE_CHECKING:
    import polars as pl
    from PIL import Image

    from comix_resources.lake import Lake


def crop_panel(image: Image.Image, box: tuple[int, int, int, int], page_size: dict) -> Image.Image:
    """The panel's crop; boxes are in page_size pixels, which the image may be scaled from."""
    sx = image.width / float(page_size.get("width") or image.width)
    sy = image.height / float(page_size.get("height") or image.height)
    x, y, w, h = box
    left, top = max(0, round(x * sx)), max(0, round(y * sy))
    right = min(image.width, max(left + 1, round((x + w) * sx)))
    bottom = min(image.height, max(top + 1, round((y + h) * sy)))
    return image.crop((left, top, right, bottom)).convert("RGB")


class _CropCache:
    """Least-recently-used arrays under a byte budget; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Any, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes


class PanelCrops:
    """The panel crops of DataSpec rows as pixel tensors, slot for slot as ``encode_pages``
    lays them out, decoded on demand: what fine-tuning the vision encoder trains on.

    Pages are decoded on ``workers`` threads (PIL releases the GIL while it decodes and
    resizes) and their resized crops kept as uint8 in a least-recently-used cache of at most
    ``cache_bytes`` (150 KB a panel at 224 px), so a corpus of any size fits while a small
    one is decoded once: on a GPU, decoding pages every epoch took longer than the forward
    and backward passes. Subsets share the cache.
    """

    def __init__(
        self,
        table: pl.DataFrame | Sequence[dict[str, Any]],
        image_loader: Callable[[str], Image.Image],
        image_size: int = 224,
        max_panels: int = MAX_PANELS,
        whole_page: bool = False,
        workers: int | None = None,
        cache_bytes: int = 2 << 30,
    ) -> None:
        self.rows = table.to_dicts() if hasattr(table, "to_dicts") else list(table)
        self.image_loader = image_loader
        self.image_size = image_size
        self.max_panels = max_panels
        self.whole_page = whole_page
        self.workers = workers or min(8, os.cpu_count() or 1)
        self._cache = _CropCache(cache_bytes)

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: Sequence[int] | np.ndarray) -> PanelCrops:
        """The crops of pages ``index``, sharing this one's settings and cache."""
        subset = copy.copy(self)
        subset.rows = [self.rows[int(i)] for i in np.asarray(index).tolist()]
        return subset

    def _page_crops(self, row: dict[str, Any]) -> np.ndarray:
        """(n, S, S, 3) uint8 resized crops of one page's panel slots."""
        slots = page_slots(row, self.max_panels, self.whole_page)
        key = (row["page_image_path"], self.image_size, tuple(slot.box for slot in slots))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        size = (self.image_size, self.image_size)
        if slots:
            page = self.image_loader(row["page_image_path"])
            crops = [crop_panel(page, slot.box, row.get("page_size") or {}) for slot in slots]
            array = np.stack([np.asarray(crop.resize(size), dtype=np.uint8) for crop in crops])
        else:
            array = np.zeros((0, *size, 3), np.uint8)
        self._cache.put(key, array)
        return array

    def pixels(self, index: Sequence[int] | np.ndarray) -> Any:
        """(M, 3, S, S) tensor of the panels of pages ``index`` in (page, slot) order: the
        order in which ``vision[mask]`` lists the same panels of ``PanelFeatures``."""
        import torch

        rows = [self.rows[int(i)] for i in np.asarray(index).tolist()]
        if self.workers > 1 and len(rows) > 1:
            with ThreadPoolExecutor(min(self.workers, len(rows))) as pool:
                pages = list(pool.map(self._page_crops, rows))
        else:
            pages = [self._page_crops(row) for row in rows]
        crops = [page for page in pages if len(page)]
        if not crops:
            return torch.zeros((0, 3, self.image_size, self.image_size))
        return efficientnet_array_pixels(np.concatenate(crops))


def encode_pages(
    table: pl.DataFrame,
    image_loader: Callable[[str], Image.Image],
    text_encoder: Encoder,
    vision_encoder: Encoder,
    cache: FeatureCache | None = None,
    max_panels: int = MAX_PANELS,
    pages_per_batch: int = 32,
    whole_page: bool = False,
) -> PanelFeatures:
    """Encode every panel of ``table`` (``training_pages`` rows) into ``PanelFeatures``.

    ``image_loader`` maps a ``page_image_path`` to a PIL image (a lake reader in assets).
    Pages are processed in groups so that memory holds only a group's crops; panels without
    text get a zero text vector (the model's gate learns to ignore it). ``whole_page``: see
    ``page_slots`` (for embedding every page; training pages all have panels).
    """
    n = table.height
    vision = np.zeros((n, max_panels, vision_encoder.dim), np.float32)
    text = np.zeros((n, max_panels, text_encoder.dim), np.float32)
    composition = np.zeros((n, max_panels, len(COMPOSITION_FEATURES)), np.float32)
    mask = np.zeros((n, max_panels), bool)
    order = np.full((n, max_panels), -1, np.int64)
    boxes = np.zeros((n, max_panels, 4), np.float32)
    rows = table.to_dicts()
    for start in range(0, n, pages_per_batch):
        crops: dict[str, Image.Image] = {}
        texts: dict[str, str] = {}
        slot_keys: list[tuple[int, int, str, str | None]] = []
        for i in range(start, min(n, start + pages_per_batch)):
            row = rows[i]
            slots = page_slots(row, max_panels, whole_page)
            if not slots:
                continue
            image = image_loader(row["page_image_path"])
            composition[i, : len(slots)] = composition_features(row, slots)
            for j, slot in enumerate(slots):
                crop = crop_panel(image, slot.box, row.get("page_size") or {})
                vkey = sha256_bytes(f"{crop.size}".encode() + crop.tobytes())
                crops[vkey] = crop
                tkey = sha256_bytes(slot.text.encode()) if slot.text.strip() else None
                if tkey is not None:
                    texts[tkey] = slot.text
                slot_keys.append((i, j, vkey, tkey))
                mask[i, j] = True
                order[i, j] = slot.order
                boxes[i, j] = slot.box
        vision_vectors = cached_encode(vision_encoder, crops, cache)
        text_vectors = cached_encode(text_encoder, texts, cache)
        for i, j, vkey, tkey in slot_keys:
            vision[i, j] = vision_vectors[vkey]
            if tkey is not None:
                text[i, j] = text_vectors[tkey]
    page_types = table["page_type"].to_list() if "page_type" in table.columns else [None] * n
    return PanelFeatures(
        vision=vision,
        text=text,
        composition=composition,
        mask=mask,
        order=order,
        boxes=boxes,
        book_ids=np.asarray(table["book"].cast(str).to_list(), dtype=str),
        page_ids=np.asarray(table["page_id"].cast(str).to_list(), dtype=str),
        page_type_ids=np.asarray([page_type_id(t) for t in page_types], dtype=np.int64),
    )


def encode_lake_pages(
    lake: Lake,
    table: pl.DataFrame,
    settings: EncoderSettings,
    whole_page: bool = False,
    vision_encoder: Encoder | None = None,
) -> PanelFeatures:
    """``encode_pages`` of DataSpec rows whose images are in ``lake``, through the encoders of
    ``settings`` (``vision_encoder`` replaces its vision encoder: a fine-tuned champion's)."""
    with open_encoders(settings, vision=vision_encoder) as encoders:
        return encode_pages(
            table,
            lake_image_loader(lake),
            encoders.text,
            encoders.vision,
            encoders.cache,
            whole_page=whole_page,
        )
