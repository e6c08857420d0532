"""Storage benchmark: bytes per page and recall@10 of each encoding against float32.

``python -m comix_resources.benchmarks.embeddings [--pages 10000]`` prints the figures; tests call
``run_store_benchmark`` with a few hundred pages. Vectors come from a Gaussian mixture
(clustered like real embeddings, L2-normalised, 384-d); pages carry 1-12 panels, ~5 on average,
so most of the 12 panel slots are padding, as in the corpus.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.embeddings.store import (
    EMBEDDING_DIM,
    ENCODINGS,
    MAX_PANELS,
    open_partition,
    write_partition,
)

ORIGINAL_BYTES_PER_PAGE = 6200  # the original store: float32, 12 padded slots (80K pages, 500 MB)
WORDS = [f"w{i:x}" for i in range(2000)]


def mixture_vectors(
    n: int, rng: np.random.Generator, dim: int = EMBEDDING_DIM, clusters: int = 200
) -> np.ndarray:
    """Clustered unit vectors: centres on the sphere plus isotropic noise, re-normalised."""
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, clusters, n)
    # Noise of norm ~0.9 against a unit centre: clusters overlap enough that top-10 lists mix
    # several clusters, which is what makes quantisation error visible in recall.
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (0.9 / np.sqrt(dim))
    vectors = centres[labels] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_partition(
    pages: int, seed: int = 0, source: str = "amazon", collection: str = "demo"
) -> dict[str, Any]:
    """Keyword arguments for ``write_partition`` that look like one real partition."""
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.poisson(5, pages), 1, MAX_PANELS)
    mask = np.arange(MAX_PANELS)[None, :] < counts[:, None]
    panels = np.zeros((pages, MAX_PANELS, EMBEDDING_DIM), dtype=np.float32)
    panels[mask] = mixture_vectors(int(mask.sum()), rng)
    attention = np.where(mask, rng.random((pages, MAX_PANELS)), 0).astype(np.float32)
    attention /= attention.sum(axis=1, keepdims=True)
    order = np.where(mask, np.argsort(rng.random((pages, MAX_PANELS)), axis=1), -1)
    order = np.where(mask, np.argsort(np.where(mask, order, 99), axis=1), -1)
    x0 = rng.uniform(0, 1500, (pages, MAX_PANELS))
    y0 = rng.uniform(0, 2200, (pages, MAX_PANELS))
    coords = np.stack([x0, y0, x0 + 300, y0 + 400], axis=-1).round().astype(np.float32)
    coords[~mask] = 0
    text = [[" ".join(rng.choice(WORDS, rng.integers(3, 15))) for _ in range(c)] for c in counts]
    books = [f"{(seed * 7919 + i // 24):016x}" for i in range(pages)]
    return {
        "source": source,
        "collection": collection,
        "arrays": {
            "page_embeddings": mixture_vectors(pages, rng),
            "panel_embeddings": panels,
            "attention_weights": attention,
            "reading_order": order.astype(np.int8),
            "panel_coordinates": coords,
            "panel_mask": mask,
        },
        "ids": {
            "page_id": [f"{b}-{i % 24:04d}" for i, b in enumerate(books)],
            "book_id": books,
            "source": [source] * pages,
            "collection": [collection] * pages,
            "page_index": [i % 24 for i in range(pages)],
        },
        "text_content": text,
        "attrs": {"model_name": "closure_lite", "model_version": "1", "mlflow_run_id": "bench"},
    }


def group_bytes(path: str | Path) -> dict[str, int]:
    """On-disk bytes per array (chunks plus metadata) of a local group; '' is group metadata."""
    sizes: dict[str, int] = {}
    root = Path(path)
    for file in root.rglob("*"):
        if file.is_file():
            rel = file.relative_to(root).parts
            key = rel[0] if len(rel) > 1 else ""
            sizes[key] = sizes.get(key, 0) + file.stat().st_size
    return sizes


def recall_at_k(truth: np.ndarray, found: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` (ids) found in the same row of ``found``."""
    hits = [len(set(t).intersection(f)) for t, f in zip(truth, found, strict=True)]
    return float(np.mean(hits) / truth.shape[1])


def _top_k(database: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ database.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def run_store_benchmark(
    pages: int = 10_000, queries: int = 200, k: int = 10, seed: int = 0, verbose: bool = True
) -> dict[str, Any]:
    """Write the same partition in every encoding; bytes/page and recall@k vs float32."""
    partition = synthetic_partition(pages, seed)
    arrays = partition["arrays"]
    mask = arrays["panel_mask"]
    # The searchable vectors: every page plus every real panel, as the index holds them.
    reference = np.concatenate([arrays["page_embeddings"], arrays["panel_embeddings"][mask]])
    probes = mixture_vectors(queries, np.random.default_rng(seed + 1))
    truth = _top_k(reference, probes, k)
    result: dict[str, Any] = {
        "pages": pages,
        "panels_per_page": float(mask.sum() / pages),
        "vectors": len(reference),
        "original_bytes_per_page": ORIGINAL_BYTES_PER_PAGE,
        "encodings": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in ("float32", *[e for e in ENCODINGS if e != "float32"]):
            root = Path(tmp) / encoding
            started = time.perf_counter()
            path = write_partition(root, **partition, encoding=encoding)
            write_s = time.perf_counter() - started
            started = time.perf_counter()
            stored = open_partition(root, partition["source"], partition["collection"])
            decoded = np.concatenate(
                [stored.page_embeddings, stored.panel_embeddings[stored.panel_mask]]
            )
            read_s = time.perf_counter() - started
            sizes = group_bytes(path)
            embedding_bytes = sum(v for n, v in sizes.items() if "embeddings" in n)
            found = _top_k(decoded, probes, k)
            cosine = np.sum(decoded * reference, axis=1) / np.maximum(
                np.linalg.norm(decoded, axis=1), 1e-12
            )
            result["encodings"][encoding] = {
                "bytes_per_page": sum(sizes.values()) / pages,
                "embedding_bytes_per_page": embedding_bytes / pages,
                "text_bytes_per_page": sizes.get("text_content", 0) / pages,
                "recall_at_k": recall_at_k(truth, found),
                "min_cosine": float(cosine.min()),
                "write_s": write_s,
                "read_s": read_s,
                "bytes_by_array": {n: v / pages for n, v in sorted(sizes.items())},
            }
    if verbose:
        print(format_store_report(result))
    return result


def format_store_report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['pages']} pages, {result['panels_per_page']:.2f} panels/page, "
        f"{result['vectors']} vectors; original store ~{result['original_bytes_per_page']} B/page",
        f"{'encoding':<9} {'B/page':>8} {'emb B/p':>8} {'text B/p':>8} {'recall@10':>9} "
        f"{'min cos':>8} {'write s':>7} {'read s':>6}",
    ]
    for name, row in result["encodings"].items():
        lines.append(
            f"{name:<9} {row['bytes_per_page']:>8.0f} {row['embedding_bytes_per_page']:>8.0f} "
            f"{row['text_bytes_per_page']:>8.0f} {row['recall_at_k']:>9.4f} "
            f"{row['min_cosine']:>8.5f} {row['write_s']:>7.2f} {row['read_s']:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m comix_resources.benchmarks.embeddings")
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    return run_store_benchmark(pages=args.pages, queries=args.queries)


if __name__ == "__main__":
    main()
