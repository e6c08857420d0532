"""Encoder outputs cached by content: nothing is encoded twice for the same encoder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from comix_resources.cache_store import CacheTable
from comix_resources.encoders.frozen import Encoder


class FeatureCache:
    """Encoder outputs keyed by (encoder id, content sha256).

    Content keys (the crop's pixels, the panel's text) make a re-run, a re-detected but
    identical panel, or a repeated caption hit the cache; the encoder id keeps features of
    different models apart. ``location`` is a SQLite file, a database URL shared by every
    worker (``comix_resources.cache_store``; there the cache is the table ``name``), or None
    for a cache in memory.
    """

    def __init__(
        self, location: str | os.PathLike[str] | None = None, name: str = "features"
    ) -> None:
        self._table = CacheTable(
            location,
            name,
            {"encoder": sa.String(), "key": sa.String()},
            {"vector": sa.LargeBinary()},
            sqlite_table="features",
        )

    def get_many(self, encoder: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        rows = self._table.get_many({"encoder": encoder}, "key", keys)
        return {k: np.frombuffer(row["vector"], dtype=np.float32) for k, row in rows.items()}

    def put_many(self, encoder: str, items: dict[str, np.ndarray]) -> None:
        self._table.put_many(
            {"encoder": encoder, "key": k, "vector": np.asarray(v, np.float32).tobytes()}
            for k, v in items.items()
        )

    def close(self) -> None:
        self._table.close()


def cached_encode(
    encoder: Encoder, items: dict[str, Any], cache: FeatureCache | None
) -> dict[str, np.ndarray]:
    """Vectors for ``items`` (key -> input), encoding only the keys the cache lacks.

    An input may be a zero-argument callable that returns it, so that a cached item (a page
    image, say) is never even read.
    """
    found = cache.get_many(encoder.id, list(items)) if cache is not None else {}
    missing = [k for k in items if k not in found]
    if missing:
        inputs = [items[k]() if callable(items[k]) else items[k] for k in missing]
        vectors = encoder.encode(inputs)
        new = {k: np.asarray(v, np.float32) for k, v in zip(missing, vectors, strict=True)}
        if cache is not None:
            cache.put_many(encoder.id, new)
        found.update(new)
    return found
