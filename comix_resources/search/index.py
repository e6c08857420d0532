"""Nearest-neighbour search over page and panel embeddings, with the id mapping.

Two kinds behind one ``VectorIndex``: ``exact`` (a float32 matrix product, blocked so memory stays
flat; recall 1, no build) and ``usearch`` (HNSW from the usearch library, stored in float16).
``auto`` picks exact below ``AUTO_EXACT_MAX`` vectors: there one query costs a few milliseconds
and there is nothing to build, while above it HNSW's sub-millisecond queries win (bench.py).
Above it, ``auto`` also checks the graph it built: ``sampled_recall`` of a few hundred of the
indexed vectors against exact search, and falls back to exact search when recall@10 is below
``MIN_HNSW_RECALL``. Learned embeddings have a low intrinsic dimension and HNSW finds 99 % of
their neighbours; vectors with no structure (isotropic noise, or a model that collapsed to
noise) defeat any graph index (1M random 384-d vectors: recall@10 0.02), and a search page
that answers fast but wrongly is worse than one that answers in 100 ms. The measured recall
is kept in ``index.json``.

Vectors are expected L2-normalised; scores are inner products (cosine similarity).
``save(dir)`` writes the index file, ``ids.parquet`` and ``index.json`` into a staging folder and
swaps it in (``Lake.staging_dir``), so a reader never loads a half-written index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from comix_resources.lake import Lake

logger = logging.getLogger(__name__)
Kind = Literal["exact", "usearch", "auto"]
# Measured (bench.py, 2 cores, 384-d): one exact query costs ~7-12 ms per 100K vectors (73 ms
# p50, 111 ms p99 at 1M) with no build and recall 1; HNSW answers in ~0.3-0.6 ms but builds at
# ~2-7K vectors/s. Below this, exact is simpler and fast enough for interactive search.
AUTO_EXACT_MAX = 100_000
BLOCK_ROWS = 65_536  # rows per matrix-product block: (queries x 65K) float32 scores stay small
# 1M x 384 embedding-like vectors (bench.py --data lowrank) on 2 shared cores: ef_add=64 builds
# in ~160 s (128 takes ~2x) and ef_search=128 gives recall@10 0.99 at 0.3 ms p50 a query.
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 64
HNSW_EXPANSION_SEARCH = 128
MIN_HNSW_RECALL = 0.9
RECALL_SAMPLE = 200


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise best ``k`` (indices, scores) in descending order."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


class VectorIndex:
    """A searchable set of vectors with string ids; build with ``build_index``."""

    def __init__(
        self,
        kind: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        hnsw: Any = None,
        recall: float | None = None,
    ) -> None:
        self.kind = kind
        self.ids = np.asarray(list(ids), dtype=object)
        self.vectors = vectors  # exact only: (n, dim) float32
        self.hnsw = hnsw  # usearch only: a usearch.index.Index keyed by row number
        # recall@10 against exact search measured when it was built (``sampled_recall``);
        # 1.0 for exact search, None when not measured.
        self.recall = 1.0 if kind == "exact" else recall

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors is not None else int(self.hnsw.ndim)

    def search_rows(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(row numbers, scores), both (q, k); rows are -1 where fewer than k vectors exist."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k_eff = min(k, len(self))
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if k_eff == 0:
            return rows, scores
        if self.kind == "exact":
            assert self.vectors is not None
            best_rows, best_scores = None, None
            for start in range(0, len(self.vectors), BLOCK_ROWS):
                block = queries @ self.vectors[start : start + BLOCK_ROWS].T
                top, top_scores = _top_k(block, k_eff)
                top += start
                if best_rows is None:
                    best_rows, best_scores = top, top_scores
                else:
                    merged = np.concatenate([best_scores, top_scores], axis=1)
                    pick, best_scores = _top_k(merged, k_eff)
                    best_rows = np.take_along_axis(
                        np.concatenate([best_rows, top], axis=1), pick, axis=1
                    )
            rows[:, :k_eff], scores[:, :k_eff] = best_rows, best_scores
        else:
            matches = self.hnsw.search(queries, k_eff)
            # One query gives a Matches (keys of the found length), several a BatchMatches.
            if hasattr(matches, "counts"):
                keys, distances = matches.keys, matches.distances
                counts = np.asarray(matches.counts)
            else:
                keys = np.zeros((1, k_eff), dtype=np.int64)
                distances = np.zeros((1, k_eff), dtype=np.float32)
                keys[0, : len(matches.keys)] = matches.keys
                distances[0, : len(matches.keys)] = matches.distances
                counts = np.array([len(matches.keys)])
            found = counts.reshape(-1, 1) > np.arange(k_eff)
            rows[:, :k_eff] = np.where(found, keys.astype(np.int64), -1)
            # usearch's "ip" distance is 1 - dot product.
            scores[:, :k_eff] = np.where(found, 1.0 - distances, -np.inf)
        return rows, scores

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), both (q, k), best first; ids are None past the end of a small index."""
        rows, scores = self.search_rows(queries, k)
        ids = np.where(rows >= 0, self.ids[np.maximum(rows, 0)] if len(self) else None, None)
        return ids, scores

    # persistence ---------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        directory = Path(directory).absolute()
        directory.parent.mkdir(parents=True, exist_ok=True)
        lake = Lake(directory.parent)
        with lake.staging_dir(str(directory)) as staging:
            folder = Path(staging)
            if self.kind == "exact":
                assert self.vectors is not None
                np.save(folder / "vectors.npy", self.vectors)
            else:
                self.hnsw.save(str(folder / "index.usearch"))
            # Row number -> id; polars writes deterministic parquet for equal ids.
            pl.DataFrame({"id": [str(i) for i in self.ids]}).write_parquet(
                folder / "ids.parquet", compression="zstd"
            )
            meta = {
                "kind": self.kind,
                "count": len(self),
                "dim": self.dim,
                "metric": "ip",
                "recall_at_10": self.recall,
            }
            if self.hnsw is not None:
                # usearch's file keeps the graph but not its search-time beam, and a restored
                # index falls back to usearch's default, below the one its recall was measured at.
                meta["expansion_search"] = int(self.hnsw.expansion_search)
            (folder / "index.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: Path | str, view: bool = False) -> VectorIndex:
        """Load a saved index; ``view=True`` memory-maps it instead of reading it in."""
        folder = Path(directory)
        meta = json.loads((folder / "index.json").read_text())
        ids = pl.read_parquet(folder / "ids.parquet")["id"].to_list()
        if meta["kind"] == "exact":
            vectors = np.load(folder / "vectors.npy", mmap_mode="r" if view else None)
            return cls("exact", ids, vectors)
        from usearch.index import Index

        hnsw = Index.restore(str(folder / "index.usearch"), view=view)
        hnsw.expansion_search = int(meta.get("expansion_search", HNSW_EXPANSION_SEARCH))
        return cls("usearch", ids, None, hnsw, meta.get("recall_at_10"))


def sampled_recall(
    index: VectorIndex,
    vectors: np.ndarray,
    k: int = 10,
    sample: int = RECALL_SAMPLE,
    seed: int = 0,
) -> float:
    """Recall@k of ``index`` against exact search over ``vectors`` (what it indexes), with
    ``sample`` of the indexed vectors as queries; each query's own row is left out of both
    answers, since any index finds a vector itself."""
    n = len(vectors)
    if n <= 1:
        return 1.0
    rows = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    queries = vectors[rows]
    exact = VectorIndex("exact", range(n), vectors)
    want = min(k + 1, n)
    truth, _ = exact.search_rows(queries, want)
    found, _ = index.search_rows(queries, want)
    hits, total = 0, 0
    for row, true_rows, found_rows in zip(rows, truth, found, strict=True):
        expected = [r for r in true_rows if r != row][:k]
        hits += len(set(expected) & {r for r in found_rows if r not in (row, -1)})
        total += len(expected)
    return hits / total if total else 1.0


def build_index(
    vectors: np.ndarray,
    ids: Sequence[str],
    kind: Kind = "auto",
    *,
    connectivity: int = HNSW_CONNECTIVITY,
    expansion_add: int = HNSW_EXPANSION_ADD,
    expansion_search: int = HNSW_EXPANSION_SEARCH,
    dtype: str = "f16",
    threads: int = 0,
    min_recall: float = MIN_HNSW_RECALL,
) -> VectorIndex:
    """Index ``vectors`` (n, dim), float32 and L2-normalised, under ``ids`` (row i -> ids[i]).

    ``kind="auto"`` is exact up to ``AUTO_EXACT_MAX`` vectors and HNSW above, unless the HNSW
    graph's ``sampled_recall`` is below ``min_recall`` (then exact). HNSW stores float16 by
    default (half the memory of float32, no measurable recall loss on unit vectors; usearch's
    i8 assumes components in [-1, 1] and loses most of their precision).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise ValueError(f"need (n, dim) vectors and n ids, got {vectors.shape} and {len(ids)}")
    if kind == "auto":
        if len(vectors) <= AUTO_EXACT_MAX:
            return VectorIndex("exact", ids, vectors)
        graph = build_index(
            vectors,
            ids,
            "usearch",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
            dtype=dtype,
            threads=threads,
        )
        graph.recall = sampled_recall(graph, vectors)
        if graph.recall >= min_recall:
            return graph
        logger.warning(
            "HNSW over %d vectors finds %.3f of the exact top 10 (below %.2f): using exact search",
            len(vectors),
            graph.recall,
            min_recall,
        )
        return VectorIndex("exact", ids, vectors)
    if kind == "exact":
        return VectorIndex("exact", ids, vectors)
    if kind != "usearch":
        raise ValueError(f"kind must be exact, usearch or auto, got {kind!r}")
    from usearch.index import Index

    hnsw = Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype=dtype,
        connectivity=connectivity,
        expansion_add=expansion_add,
        expansion_search=expansion_search,
    )
    if len(vectors):
        hnsw.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=threads)
    return VectorIndex("usearch", ids, None, hnsw)
