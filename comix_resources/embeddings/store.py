"""The Zarr v3 embedding store: one group per partition at ``embeddings.zarr/<source>/<coll>/``.

Layout of a group (every array has zarr v3 ``dimension_names``, so ``xarray.open_zarr`` opens
the group as a Dataset with dims ``page``, ``panel``, ``embedding``, ``coord``):

=====================  ======================  =============================================
array                  dims                    stored as
=====================  ======================  =============================================
page_embeddings        (page, embedding)       float16, or intN codes (``encoding="int10"``)
panel_embeddings       (page, panel, embedding) same; padded slots are zeros (zstd: ~free)
page_embeddings_scale  (page,)                 float32, intN only: value = code * scale
panel_embeddings_scale (page, panel)           float32, intN only
attention_weights      (page, panel)           float16
reading_order          (page, panel)           int8 (-1 = padded slot)
panel_coordinates      (page, panel, coord)    float32 (x0, y0, x1, y1 as given)
panel_mask             (page, panel)           bool
text_content           (page, panel)           variable-length UTF-8
page_id, book_id,      (page,)                 variable-length UTF-8
source, collection
page_index             (page,)                 int32
=====================  ======================  =============================================

Every array is zstd-compressed and chunked by about 1,000 pages. The group attributes carry the
lineage (model name, version, MLflow run) plus ``encoding`` and ``comix_complete``.

A partition is written into a staging folder beside its target and swapped in with one rename
(``Lake.staging_dir``), so parallel partitions never share a chunk and a writer that dies leaves
the previous group readable. Object stores have no rename: there the group is written in place
and ``comix_complete`` (written last) tells a reader that it is whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from comix_resources.lake import TMP_PREFIX, Lake

STORE_NAME = "embeddings.zarr"
FORMAT_VERSION = 1
PAGES_PER_CHUNK = 1000
EMBEDDING_DIM = 384
MAX_PANELS = 12
ZSTD_LEVEL = 3  # level 9 bought < 2 % on int8 codes for 3x the write time (bench.py)
# Blosc compresses in blocks; its automatic (small) block cost 8 % on float16 vs 256 KiB blocks.
BLOSC_BLOCK = 1 << 18

# ``intN``: N-bit scalar codes with a float32 scale per vector (int8 storage up to 8 bits, int16
# with a byte shuffle above). float32 is the lossless baseline that bench.py measures against.
Encoding = Literal["float16", "int8", "int9", "int10", "int12", "float32"]
ENCODINGS: tuple[str, ...] = ("float16", "int8", "int9", "int10", "int12", "float32")
# The measured choice (bench.py: 10,000 pages, ~5 panels each, Gaussian-mixture vectors), in
# bytes/page on disk and recall@10 against float32: float32 8.2 KB, float16 4.1 KB / 0.9995,
# int8 2.3 KB / 0.985, int9 2.9 KB / 0.990, int10 3.1 KB / 0.995. int9 is the smallest encoding
# that meets both targets (<= 3.1 KB, recall@10 >= 0.99); int10 buys recall margin for 7 %.
DEFAULT_ENCODING: Encoding = "int9"

EMBEDDING_ARRAYS = ("page_embeddings", "panel_embeddings")
ID_FIELDS = ("page_id", "book_id", "source", "collection", "page_index")
STRING_IDS = ("page_id", "book_id", "source", "collection")

# name -> (dims, stored dtype) for the arrays stored as given (embeddings are handled apart).
PLAIN_ARRAYS: dict[str, tuple[tuple[str, ...], str]] = {
    "attention_weights": (("page", "panel"), "float16"),
    "reading_order": (("page", "panel"), "int8"),
    "panel_coordinates": (("page", "panel", "coord"), "float32"),
    "panel_mask": (("page", "panel"), "bool"),
}
EMBEDDING_DIMS = {
    "page_embeddings": ("page", "embedding"),
    "panel_embeddings": ("page", "panel", "embedding"),
}


# quantization ------------------------------------------------------------------------------
def quantize(vectors: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric scalar quantization to ``bits``-bit codes with one scale per vector (last axis).

    Symmetric (no zero point) because L2-normalised embeddings are centred on zero: a zero point
    would buy half a bit on skewed vectors and cost a second array. All-zero vectors (padded
    panel slots) get scale 0 and codes 0, which compress to almost nothing. Codes fit int8 up to
    8 bits and int16 above.
    """
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be in 2..16, got {bits}")
    levels = 2 ** (bits - 1) - 1
    vectors = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(vectors).max(axis=-1, keepdims=True)
    scales = peak / levels
    safe = np.where(scales > 0, scales, 1.0)
    dtype = np.int8 if bits <= 8 else np.int16
    codes = np.clip(np.rint(vectors / safe), -levels, levels).astype(dtype)
    return codes, scales[..., 0].astype(np.float32)


def encoding_bits(encoding: str) -> int | None:
    """8 for ``"int8"``, 10 for ``"int10"``...; None for the float encodings."""
    return int(encoding[3:]) if encoding.startswith("int") else None


def dequantize(codes: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
    """float32 vectors from stored codes: ``codes * scale`` for int8, a cast for float16/32."""
    if scales is None:
        return np.asarray(codes, dtype=np.float32)
    return np.asarray(codes, dtype=np.float32) * np.asarray(scales, dtype=np.float32)[..., None]


# writing -----------------------------------------------------------------------------------
def partition_path(lake: Lake, source: str, collection: str) -> str:
    return lake.path(STORE_NAME, source, collection)


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    # Whole trailing axes, ~1,000 pages per chunk; at least 1 so empty partitions still write.
    return (max(1, min(PAGES_PER_CHUNK, shape[0])), *[max(1, s) for s in shape[1:]])


def _create(group: zarr.Group, name: str, data: np.ndarray, dims: tuple[str, ...]) -> None:
    is_text = data.dtype.kind in "OUT"
    # zstd alone cannot see that the high bytes of int16 codes and float16/32 exponents are
    # nearly constant; Blosc's byte shuffle groups them first (-7 % on float16, -40 % on int16).
    wide = not is_text and data.dtype.itemsize > 1 and data.dtype.kind in "if"
    compressor: Any = (
        BloscCodec(
            cname="zstd",
            clevel=ZSTD_LEVEL,
            shuffle="shuffle",
            typesize=data.dtype.itemsize,
            blocksize=BLOSC_BLOCK,
        )
        if wide and data.ndim > 1
        else ZstdCodec(level=ZSTD_LEVEL)
    )
    array = group.create_array(
        name,
        shape=data.shape,
        dtype=str if is_text else data.dtype,
        chunks=_chunks(data.shape),
        dimension_names=dims,
        compressors=compressor,
        fill_value="" if is_text else 0,
    )
    if data.size:
        array[...] = data


def _validate(
    arrays: Mapping[str, np.ndarray], ids: Mapping[str, Sequence[Any]], text: Sequence[Any]
) -> int:
    missing = [n for n in (*EMBEDDING_ARRAYS, *PLAIN_ARRAYS) if n not in arrays]
    if missing:
        raise ValueError(f"missing arrays: {missing}")
    missing_ids = [n for n in ID_FIELDS if n not in ids]
    if missing_ids:
        raise ValueError(f"missing ids: {missing_ids}")
    n = len(arrays["page_embeddings"])
    panels = np.shape(arrays["panel_embeddings"])
    if len(panels) != 3 or panels[0] != n:
        raise ValueError(f"panel_embeddings must be (N, panels, dim), got {panels} for N={n}")
    for name in PLAIN_ARRAYS:
        if np.shape(arrays[name])[:2] != panels[:2]:
            raise ValueError(f"{name} must start with {panels[:2]}, got {np.shape(arrays[name])}")
    for name in ID_FIELDS:
        if len(ids[name]) != n:
            raise ValueError(f"ids[{name!r}] has {len(ids[name])} entries for {n} pages")
    if len(text) != n or any(len(row) > panels[1] for row in text):
        raise ValueError(f"text_content must be {n} rows of at most {panels[1]} strings")
    return n


def _text_matrix(text: Sequence[Sequence[str]], n: int, slots: int) -> np.ndarray:
    matrix = np.full((n, slots), "", dtype=object)
    for i, row in enumerate(text):
        matrix[i, : len(row)] = [s or "" for s in row]
    return matrix


def write_partition(
    lake_root: Path | str,
    source: str,
    collection: str,
    arrays: Mapping[str, np.ndarray],
    ids: Mapping[str, Sequence[Any]],
    text_content: Sequence[Sequence[str]],
    attrs: Mapping[str, Any],
    encoding: Encoding = DEFAULT_ENCODING,
) -> str:
    """Write one partition's group and swap it in; returns its path (a URL off the local disk).

    ``arrays`` holds ``page_embeddings`` (N, D), ``panel_embeddings`` (N, P, D) and
    ``attention_weights``, ``reading_order``, ``panel_coordinates`` (N, P, 4), ``panel_mask``
    (N, P); ``ids`` the per-page ``page_id``, ``book_id``, ``source``, ``collection``,
    ``page_index``; ``text_content`` one list of panel texts per page (shorter rows are padded
    with ""; a reader gets one string per slot where ``panel_mask`` is true); ``attrs`` the
    lineage (``model_name``, ``model_version``, ``mlflow_run_id``...).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    n = _validate(arrays, ids, text_content)
    slots = np.shape(arrays["panel_embeddings"])[1]
    lake = Lake(lake_root)
    target = partition_path(lake, source, collection)
    with lake.staging_dir(target) as staging:
        group = zarr.open_group(lake.url(staging), mode="w", zarr_format=3)
        for name in EMBEDDING_ARRAYS:
            vectors = np.asarray(arrays[name], dtype=np.float32)
            if name == "panel_embeddings":
                # Padded slots become exact zeros whatever the model wrote there: zstd then
                # stores them for a few bytes each and a reader can never mistake them.
                mask = np.asarray(arrays["panel_mask"], dtype=bool)
                vectors = np.where(mask[..., None], vectors, np.float32(0))
            bits = encoding_bits(encoding)
            if bits is not None:
                codes, scales = quantize(vectors, bits)
                _create(group, name, codes, EMBEDDING_DIMS[name])
                _create(group, f"{name}_scale", scales, EMBEDDING_DIMS[name][:-1])
            else:
                _create(group, name, vectors.astype(encoding), EMBEDDING_DIMS[name])
        for name, (dims, dtype) in PLAIN_ARRAYS.items():
            data = np.asarray(arrays[name]).astype(dtype)
            if name == "panel_coordinates":
                dims = dims if data.ndim == 3 else dims[:2]
            _create(group, name, data, dims)
        _create(group, "text_content", _text_matrix(text_content, n, slots), ("page", "panel"))
        for name in STRING_IDS:
            _create(group, name, np.array([str(v) for v in ids[name]], dtype=object), ("page",))
        _create(group, "page_index", np.asarray(ids["page_index"], dtype=np.int32), ("page",))
        # Attributes last: on object stores ``comix_complete`` is the "whole group" marker.
        group.attrs.update(
            {
                **dict(attrs),
                "encoding": encoding,
                "format_version": FORMAT_VERSION,
                "pages": n,
                "comix_complete": True,
            }
        )
        with warnings.catch_warnings():
            # zarr-python warns that consolidated metadata is an extension to the v3 spec; we
            # want it anyway so ``xarray.open_zarr(path)`` opens without a fallback warning.
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(lake.url(staging))
    return lake.url(target)


# reading -----------------------------------------------------------------------------------
@dataclass
class EmbeddingPartition:
    """One partition's group; arrays are read and decoded (to float32) on first access."""

    path: str
    group: zarr.Group = field(repr=False)

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.group.attrs)

    @property
    def encoding(self) -> str:
        return str(self.group.attrs.get("encoding", "float16"))

    @property
    def source(self) -> str:
        return str(self.ids["source"][0]) if len(self) else ""

    @property
    def collection(self) -> str:
        return str(self.ids["collection"][0]) if len(self) else ""

    @property
    def partition(self) -> tuple[str, str]:
        """``(source, partition key)`` the group was written for (where it lies): the partition
        key is the collection's, or a shard's of a large collection."""
        source, key = self.path.rstrip("/").rsplit("/", 2)[-2:]
        return source, key

    def __len__(self) -> int:
        return int(self.group["page_id"].shape[0])

    def _embeddings(self, name: str) -> np.ndarray:
        codes = self.group[name][...]
        quantized = encoding_bits(self.encoding) is not None
        scales = self.group[f"{name}_scale"][...] if quantized else None
        return dequantize(codes, scales)

    @cached_property
    def page_embeddings(self) -> np.ndarray:
        return self._embeddings("page_embeddings")

    @cached_property
    def panel_embeddings(self) -> np.ndarray:
        return self._embeddings("panel_embeddings")

    @cached_property
    def attention_weights(self) -> np.ndarray:
        return self.group["attention_weights"][...].astype(np.float32)

    @cached_property
    def reading_order(self) -> np.ndarray:
        return self.group["reading_order"][...]

    @cached_property
    def panel_coordinates(self) -> np.ndarray:
        return self.group["panel_coordinates"][...]

    @cached_property
    def panel_mask(self) -> np.ndarray:
        return self.group["panel_mask"][...]

    @cached_property
    def text_content(self) -> list[list[str]]:
        """Panel texts per page, padded slots dropped (the inverse of ``write_partition``)."""
        text = self.group["text_content"][...]
        mask = self.panel_mask
        return [
            [str(s) for s, m in zip(row, keep, strict=True) if m]
            for row, keep in zip(text, mask, strict=True)
        ]

    @cached_property
    def ids(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {n: [str(v) for v in self.group[n][...]] for n in STRING_IDS}
        out["page_index"] = [int(v) for v in self.group["page_index"][...]]
        return out

    def to_xarray(self) -> Any:
        """The raw group as an ``xarray.Dataset`` (intN codes stay codes: see ``dequantize``)."""
        import xarray as xr

        return xr.open_zarr(self.path, consolidated=True)


def _open(path: str) -> EmbeddingPartition:
    group = zarr.open_group(path, mode="r", zarr_format=3, use_consolidated=True)
    if not group.attrs.get("comix_complete"):
        raise FileNotFoundError(f"{path} is an incomplete embedding group")
    return EmbeddingPartition(path=path, group=group)


def open_partition(lake_root: Path | str, source: str, collection: str) -> EmbeddingPartition:
    lake = Lake(lake_root)
    target = partition_path(lake, source, collection)
    if not lake.exists(target):
        raise FileNotFoundError(f"no embeddings for {source}/{collection} in {lake}")
    return _open(lake.url(target))


def open_all(lake_root: Path | str) -> Iterator[EmbeddingPartition]:
    """Every complete partition, sorted by source then collection; staging folders skipped."""
    lake = Lake(lake_root)
    store = lake.path(STORE_NAME)
    if not lake.exists(store):
        return
    for source_dir in sorted(lake.fs.ls(store, detail=False)):
        source = source_dir.rstrip("/").rsplit("/", 1)[-1]
        if source.startswith(TMP_PREFIX) or not lake.fs.isdir(source_dir):
            continue
        for group_dir in sorted(lake.fs.ls(source_dir, detail=False)):
            name = group_dir.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(TMP_PREFIX) or not lake.fs.isdir(group_dir):
                continue
            try:
                yield _open(lake.url(group_dir.rstrip("/")))
            except FileNotFoundError:
                continue  # an object-store group still being written
