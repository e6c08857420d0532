"""Index benchmark: build time, query latency p50/p99 and recall@10 of HNSW against exact search.

``python -m comix_resources.benchmarks.search_index [--n 1000000] [--data random|clustered]``.
Exact search runs in the same process on the same queries; latencies are one query at a time
(what a web page asking for "similar pages" sees).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from comix_resources.search.index import (
    HNSW_CONNECTIVITY,
    HNSW_EXPANSION_ADD,
    HNSW_EXPANSION_SEARCH,
    MIN_HNSW_RECALL,
    build_index,
    sampled_recall,
)


def unit_vectors(n: int, dim: int, rng: np.random.Generator, data: str = "random") -> np.ndarray:
    """L2-normalised test vectors.

    ``random``: isotropic, the degenerate worst case for any graph index (a point's nearest
    neighbour is barely closer than an arbitrary one). ``clustered``: 1,000 Gaussian clusters in
    full dimension, still random inside a cluster. ``lowrank``: a Gaussian mixture in 32
    latent dimensions mapped linearly into ``dim`` plus small noise, like learned embeddings,
    whose intrinsic dimension is far below their width.
    """
    out = np.empty((n, dim), dtype=np.float32)
    # A fixed generator for the shared structure, so queries and database share clusters.
    shape_rng = np.random.default_rng(12345)
    latent = min(32, dim)
    centres = shape_rng.standard_normal((1000, dim if data == "clustered" else latent))
    centres = centres.astype(np.float32)
    mapping = shape_rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
    for start in range(0, n, 100_000):  # in blocks: 1M x 384 float64 would be 3 GB
        size = min(100_000, n - start)
        if data == "random":
            block = rng.standard_normal((size, dim), dtype=np.float32)
        elif data == "clustered":
            noise = rng.standard_normal((size, dim), dtype=np.float32)
            block = centres[rng.integers(0, len(centres), size)] + noise * 0.9
        elif data == "lowrank":
            points = centres[rng.integers(0, len(centres), size)]
            points = points + 0.5 * rng.standard_normal((size, latent), dtype=np.float32)
            noise = rng.standard_normal((size, dim), dtype=np.float32)
            block = points @ mapping + 0.1 * noise
        else:
            raise ValueError(f"data must be random, clustered or lowrank, got {data!r}")
        out[start : start + size] = block
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _latencies_ms(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows, times = [], []
    for query in queries:
        started = time.perf_counter()
        found, _ = index.search_rows(query[None, :], k)
        times.append((time.perf_counter() - started) * 1000)
        rows.append(found[0])
    return np.array(rows), np.array(times)


def run_index_benchmark(
    n: int = 1_000_000,
    dim: int = 384,
    queries: int = 200,
    k: int = 10,
    data: str = "random",
    connectivity: int = HNSW_CONNECTIVITY,
    expansion_add: int = HNSW_EXPANSION_ADD,
    expansion_search: tuple[int, ...] = (HNSW_EXPANSION_SEARCH, 256),
    exact_latency_queries: int = 20,
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors = unit_vectors(n, dim, rng, data)
    probes = unit_vectors(queries, dim, np.random.default_rng(seed + 1), data)
    ids = [str(i) for i in range(n)]
    result: dict[str, Any] = {
        "n": n,
        "dim": dim,
        "queries": queries,
        "data": data,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }

    exact = build_index(vectors, ids, kind="exact")
    started = time.perf_counter()
    truth, _ = exact.search_rows(probes, k)  # batched: the ground truth for every query
    result["exact_batch_s"] = time.perf_counter() - started
    _, exact_ms = _latencies_ms(exact, probes[:exact_latency_queries], k)
    result["exact_p50_ms"] = float(np.percentile(exact_ms, 50))
    result["exact_p99_ms"] = float(np.percentile(exact_ms, 99))

    started = time.perf_counter()
    hnsw = build_index(
        vectors, ids, kind="usearch", connectivity=connectivity, expansion_add=expansion_add
    )
    result["build_s"] = time.perf_counter() - started
    result["hnsw"] = {"connectivity": connectivity, "expansion_add": expansion_add, "dtype": "f16"}
    result["hnsw_memory_mb"] = hnsw.hnsw.memory_usage / 2**20
    result["float32_mb"] = vectors.nbytes / 2**20
    result["search"] = {}
    for expansion in expansion_search:
        hnsw.hnsw.expansion_search = expansion
        found, times = _latencies_ms(hnsw, probes, k)
        hits = [len(set(t) & set(f)) for t, f in zip(truth, found, strict=True)]
        result["search"][expansion] = {
            "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)),
            "recall_at_k": float(np.mean(hits) / k),
            # What ``build_index(kind="auto")`` measures on its own to keep or drop the graph.
            "build_check_recall": sampled_recall(hnsw, vectors, k),
        }
    default = result["search"].get(HNSW_EXPANSION_SEARCH)
    if default is not None:
        keeps = default["build_check_recall"] >= MIN_HNSW_RECALL
        result["auto_kind"] = "usearch" if keeps else "exact"
    result["load_after"] = os.getloadavg()[0]
    if verbose:
        print(format_index_report(result))
    return result


def format_index_report(result: dict[str, Any]) -> str:
    h = result["hnsw"]
    lines = [
        f"{result['n']} x {result['dim']} {result['data']} unit vectors, {result['queries']} "
        f"queries, {result['cpus']} cpus, load {result['load_before']:.1f} -> "
        f"{result['load_after']:.1f}",
        f"exact: batch of all queries {result['exact_batch_s']:.2f} s, one query "
        f"p50 {result['exact_p50_ms']:.1f} ms p99 {result['exact_p99_ms']:.1f} ms "
        f"(float32 matrix {result['float32_mb']:.0f} MB)",
        f"usearch HNSW M={h['connectivity']} ef_add={h['expansion_add']} {h['dtype']}: build "
        f"{result['build_s']:.1f} s, memory {result['hnsw_memory_mb']:.0f} MB",
    ]
    for expansion, row in result["search"].items():
        lines.append(
            f"  ef_search={expansion}: p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms "
            f"recall@10 {row['recall_at_k']:.4f} (build check {row['build_check_recall']:.4f})"
        )
    if "auto_kind" in result:
        lines.append(f"auto: serves {result['auto_kind']} search")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m comix_resources.benchmarks.search_index")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["random", "clustered", "lowrank"], default="random")
    parser.add_argument("--connectivity", type=int, default=HNSW_CONNECTIVITY)
    parser.add_argument("--expansion-add", type=int, default=HNSW_EXPANSION_ADD)
    parser.add_argument(
        "--expansion-search", type=int, nargs="+", default=[HNSW_EXPANSION_SEARCH, 256]
    )
    args = parser.parse_args(argv)
    return run_index_benchmark(
        n=args.n,
        dim=args.dim,
        queries=args.queries,
        data=args.data,
        connectivity=args.connectivity,
        expansion_add=args.expansion_add,
        expansion_search=tuple(args.expansion_search),
    )


if __name__ == "__main__":
    main()
