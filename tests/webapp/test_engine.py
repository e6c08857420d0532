"""Filtered search on an HNSW index agrees with brute force on every path it can take."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from comix_resources.benchmarks.search_index import unit_vectors
from comix_resources.search.bundle import SearchBundle, write_search_bundle
from comix_resources.webapp.engine import Filters, SearchEngine, parse_terms
from tests.search.test_bundle import FakePredictor


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchEngine, np.ndarray]:
    n = 3000
    vectors = unit_vectors(n, 32, np.random.default_rng(0), "clustered")
    ids = [f"bk{i // 10:04d}-{i % 10:04d}" for i in range(n)]
    frame = pl.DataFrame(
        {
            "page_id": ids,
            "book_id": [i.split("-")[0] for i in ids],
            "source": ["amazon" if i % 2 else "calibre" for i in range(n)],
            "collection": [f"c{i % 30}" for i in range(n)],
            "page_index": [i % 10 for i in range(n)],
            "image_path": ["p.png"] * n,
            "width": [10] * n,
            "height": [10] * n,
            "panels": [[] for _ in range(n)],
        },
        schema_overrides={"panels": pl.List(pl.Struct({"slot": pl.Int32}))},
    )
    frame = frame.with_columns(
        pl.col("panels").cast(
            pl.List(
                pl.Struct(
                    {
                        "slot": pl.Int32,
                        "box": pl.List(pl.Float32),
                        "order": pl.Int32,
                        "text": pl.String,
                    }
                )
            )
        )
    )
    folder = tmp_path_factory.mktemp("engine") / "index"
    write_search_bundle(
        folder,
        page_vectors=vectors,
        page_ids=ids,
        panel_vectors=vectors[:10],
        panel_ids=[f"{p}:0" for p in ids[:10]],
        catalog=frame,
        model_dir_or_predictor=FakePredictor(),
        manifest={},
        kind="usearch",
    )
    # Small thresholds so that 3,000 vectors exercise every strategy.
    engine = SearchEngine(SearchBundle.load(folder), exact_subset_max=200, max_fetch=400)
    rows = engine.page_cat
    ordered = np.empty_like(vectors)
    ordered[rows] = vectors  # catalog-row order
    return engine, ordered


@pytest.mark.parametrize(
    ("filters", "strategy"),
    [
        (Filters(book_id=("bk0007",)), "exact-subset"),
        (Filters(source=("amazon",)), "ann+filter"),
        (Filters(collection=("c3", "c4", "c5")), "ann+filter"),
        (Filters(collection=("c3",)), "exact-subset"),
    ],
)
def test_filtered_search_matches_brute_force(
    engines: tuple[SearchEngine, np.ndarray], filters: Filters, strategy: str
) -> None:
    engine, vectors = engines
    query = vectors[1234]
    outcome = engine.search_vector(query, "page", 10, filters)
    assert outcome.strategy == strategy
    mask = engine.mask(filters)
    assert mask is not None
    truth = np.flatnonzero(mask)[np.argsort(-(vectors[mask] @ query))[:10]]
    found = [h.row for h in outcome.hits]
    assert len(set(found) & set(truth.tolist())) >= 9  # HNSW recall, f16 storage
    assert all(mask[r] for r in found)


def test_too_few_graph_candidates_fall_back_to_exact(
    engines: tuple[SearchEngine, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, vectors = engines
    # A graph that may hand back only 20 candidates cannot fill k=10 from a 20 % filter.
    monkeypatch.setattr(engine, "max_fetch", 20)
    filters = Filters(collection=("c3", "c4", "c5", "c6", "c7", "c8"))
    query = vectors[0]
    outcome = engine.search_vector(query, "page", 10, filters)
    mask = engine.mask(filters)
    assert mask is not None and mask.sum() > engine.exact_subset_max
    truth = np.flatnonzero(mask)[np.argsort(-(vectors[mask] @ query))[:10]]
    assert outcome.strategy == "exact-fallback"
    assert [h.row for h in outcome.hits] == truth.tolist()


def test_exclusion_and_terms(engines: tuple[SearchEngine, np.ndarray]) -> None:
    engine, vectors = engines
    at = int(engine.cat_page[5])
    outcome = engine.search_vector(vectors[5], "page", 5, exclude_rows=[at])
    assert 5 not in [h.row for h in outcome.hits] and len(outcome.hits) == 5
    assert parse_terms('Dragon "the Castle" ""') == ["dragon", "the castle"]
