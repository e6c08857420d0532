"""Encoder outputs cached by content: nothing is encoded twice for the same encoder."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.encoders.frozen import Encoder


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
