"""Search-page latency through the HTTP API: p50/p99 per query kind, with and without filters.

``python -m comix_resources.benchmarks.search_api [--pages 1000000] [--panels 100000] [--queries
200]`` builds a synthetic bundle (embedding-like ``lowrank`` vectors from
``benchmarks.search_index``, a catalog of 3 sources x 60 collections, books of 25 pages, page
types, a 50-cluster map), serves it with uvicorn on a free local port and times one query at a
time over keep-alive HTTP, as the page does. ``--bundle DIR --lake DIR`` times an existing
bundle instead (the demo corpus). Building 1M pages into HNSW takes ~3 minutes on 2 cores;
``--keep DIR`` keeps the bundle and ``--bundle`` reuses it.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from comix_resources.benchmarks.search_index import unit_vectors
from comix_resources.search.bundle import EMBEDDING_MAP_PATH, INDEX_DIR, write_search_bundle
from comix_resources.search.index import AUTO_EXACT_MAX
from comix_resources.sources.registry import SOURCES

COLLECTIONS_PER_SOURCE = 20
PAGES_PER_BOOK = 25
PAGE_TYPES = ("story", "story", "story", "story", "cover", "advert", "text")
WORDS = ("dragon", "castle", "robot", "ocean", "forest", "rocket", "ghost", "pirate", "moon")


def synthetic_catalog(n: int, rng: np.random.Generator) -> pl.DataFrame:
    """``n`` catalog rows, one full-page panel each, all drawing the same small image."""
    book = np.arange(n) // PAGES_PER_BOOK
    collection = (book * 7919) % (len(SOURCES) * COLLECTIONS_PER_SOURCE)
    words = np.asarray(WORDS)
    frame = pl.DataFrame(
        {
            "book_id": [f"{b:012x}" for b in book],
            "page_index": (np.arange(n) % PAGES_PER_BOOK).astype(np.int32),
            "source": np.asarray(SOURCES)[collection // COLLECTIONS_PER_SOURCE],
            "collection": [f"collection-{c:03d}" for c in collection],
            "page_type": np.asarray(PAGE_TYPES)[rng.integers(0, len(PAGE_TYPES), n)],
            "is_comic": rng.random(n) > 0.1,
            "w1": words[rng.integers(0, len(words), n)],
            "w2": words[rng.integers(0, len(words), n)],
        }
    )
    return frame.select(
        pl.format("{}-{}", "book_id", pl.col("page_index").cast(pl.String).str.zfill(4)).alias(
            "page_id"
        ),
        "book_id",
        "source",
        "collection",
        "page_index",
        pl.lit("bench/page.png").alias("image_path"),
        pl.lit(600, pl.Int32).alias("width"),
        pl.lit(900, pl.Int32).alias("height"),
        "page_type",
        "is_comic",
        pl.concat_list(
            pl.struct(
                pl.lit(0, pl.Int32).alias("slot"),
                pl.lit([0.0, 0.0, 600.0, 900.0], pl.List(pl.Float32)).alias("box"),
                pl.lit(0, pl.Int32).alias("order"),
                pl.format("the {} and the {}", "w1", "w2").alias("text"),
            )
        ).alias("panels"),
    )


def build_synthetic(root: Path, pages: int, panels: int, seed: int = 0) -> tuple[Path, Path]:
    """A lake with one page image, a bundle of ``pages`` pages and ``panels`` panels, a map."""
    from PIL import Image

    from comix_resources.closure_lite.config import ClosureLiteConfig
    from comix_resources.closure_lite.inference import ClosureLitePredictor
    from comix_resources.closure_lite.model import ClosureLite

    rng = np.random.default_rng(seed)
    lake = root / "lake"
    (lake / "bench").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (600, 900), "white").save(lake / "bench" / "page.png")
    started = time.perf_counter()
    catalog = synthetic_catalog(pages, rng)
    page_ids = catalog["page_id"].to_list()
    page_vectors = unit_vectors(pages, 384, rng, "lowrank")
    panels = min(panels, pages)
    panel_vectors = unit_vectors(panels, 384, rng, "lowrank")
    panel_ids = [f"{p}:0" for p in page_ids[:panels]]
    print(f"synthetic data: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    write_search_bundle(
        lake / INDEX_DIR,
        page_vectors=page_vectors,
        page_ids=page_ids,
        panel_vectors=panel_vectors,
        panel_ids=panel_ids,
        catalog=catalog,
        model_dir_or_predictor=ClosureLitePredictor(ClosureLite(ClosureLiteConfig())),
        manifest={"model_name": "closure-lite", "model_version": "0", "variant": "base"},
        kind="usearch" if pages > AUTO_EXACT_MAX else "auto",
    )
    print(f"bundle build: {time.perf_counter() - started:.1f} s", flush=True)
    (lake / EMBEDDING_MAP_PATH).parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "page_id": page_ids,
            "x": rng.random(pages).astype(np.float32),
            "y": rng.random(pages).astype(np.float32),
            "cluster": rng.integers(0, 50, pages).astype(np.int32),
        }
    ).write_parquet(lake / EMBEDDING_MAP_PATH)
    return lake / INDEX_DIR, lake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenarios(
    catalog: pl.DataFrame,
    panel_ids: np.ndarray,
    rng: np.random.Generator,
    queries: int,
    text: bool,
) -> dict[str, list[dict[str, Any]]]:
    picks = rng.integers(0, catalog.height, queries)
    rows = catalog[picks.tolist()].to_dicts()
    page = [{"page_id": r["page_id"]} for r in rows]
    collections = catalog["collection"].unique().sort().to_list()
    out = {
        "page id (more like this)": page,
        "page id + source": [{**q, "source": SOURCES[i % 3]} for i, q in enumerate(page)],
        "page id + collection": [
            {**q, "collection": collections[i % len(collections)]} for i, q in enumerate(page)
        ],
        "page id + own book": [
            {**q, "book_id": r["book_id"]} for q, r in zip(page, rows, strict=True)
        ],
        "page id + non-comic": [{**q, "is_comic": "false"} for q in page],
        "page id + type advert": [{**q, "page_type": "advert"} for q in page],
        "page id + cluster": [{**q, "cluster": i % 50} for i, q in enumerate(page)],
        "page id + collection + type": [
            {**q, "collection": collections[i % len(collections)], "page_type": "cover"}
            for i, q in enumerate(page)
        ],
        "panel mode, panel id": [
            {"panel_id": str(p), "mode": "panel"}
            for p in panel_ids[rng.integers(0, len(panel_ids), queries)]
        ]
        if len(panel_ids)
        else [],
        "keyword (2 words)": [
            {"keyword": f"{WORDS[i % 9]} {WORDS[(i * 5 + 1) % 9]}"} for i in range(queries)
        ],
    }
    if text:
        out["text (model)"] = [
            {"text": f"a {WORDS[i % 9]} near the {WORDS[(i + 3) % 9]}"} for i in range(queries)
        ]
        out["text + collection"] = [
            {**q, "collection": collections[i % len(collections)]}
            for i, q in enumerate(out["text (model)"])
        ]
    return out


def run_bench(
    bundle: Path, lake: Path, queries: int = 200, k: int = 20, text: bool = True, seed: int = 1
) -> dict[str, dict[str, Any]]:
    import httpx
    import uvicorn

    from comix_resources.webapp.app import WebSettings, create_app

    started = time.perf_counter()
    app = create_app(bundle, lake, WebSettings())
    print(f"app start (load bundle, engine): {time.perf_counter() - started:.1f} s", flush=True)
    catalog: pl.DataFrame = app.state.engine.catalog
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    results: dict[str, dict[str, Any]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            if text:
                started = time.perf_counter()
                http.get("/api/search", params={"text": "warm up", "k": k}).raise_for_status()
                print(f"model + encoders load: {time.perf_counter() - started:.1f} s", flush=True)
            rng = np.random.default_rng(seed)
            panel_ids = app.state.engine.bundle.panels.ids
            for name, params in _scenarios(catalog, panel_ids, rng, queries, text).items():
                times, strategies, counts = [], Counter(), []
                for i, query in enumerate(params):
                    began = time.perf_counter()
                    response = http.get("/api/search", params={**query, "k": k})
                    elapsed = (time.perf_counter() - began) * 1000
                    response.raise_for_status()
                    body = response.json()
                    if i >= 3:  # the first few warm caches (keyword text, page faults)
                        times.append(elapsed)
                    strategies[body["strategy"]] += 1
                    counts.append(len(body["results"]))
                if not times:
                    continue
                row = {
                    "p50_ms": float(np.percentile(times, 50)),
                    "p99_ms": float(np.percentile(times, 99)),
                    "results_mean": float(np.mean(counts)),
                    "strategies": dict(strategies),
                }
                results[name] = row
                print(
                    f"  {name:30s} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                    f"results {row['results_mean']:5.1f}  {dict(strategies)}",
                    flush=True,
                )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m comix_resources.benchmarks.search_api")
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--panels", type=int, default=100_000, help="panel vectors (<= pages)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--no-text", action="store_true", help="skip model (text) queries")
    parser.add_argument("--bundle", type=Path, help="time this bundle instead of building one")
    parser.add_argument("--lake", type=Path, help="its lake root (default: the bundle's parent)")
    parser.add_argument("--keep", type=Path, help="build the synthetic bundle here and keep it")
    args = parser.parse_args(argv)
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}", flush=True)
    if args.bundle:
        lake = args.lake or args.bundle.parent
        return run_bench(args.bundle, lake, args.queries, args.k, not args.no_text)
    if args.keep:
        bundle, lake = build_synthetic(args.keep, args.pages, args.panels)
        return run_bench(bundle, lake, args.queries, args.k, not args.no_text)
    with tempfile.TemporaryDirectory(prefix="comix-webapp-bench-") as tmp:
        bundle, lake = build_synthetic(Path(tmp), args.pages, args.panels)
        return run_bench(bundle, lake, args.queries, args.k, not args.no_text)


if __name__ == "__main__":
    main()
