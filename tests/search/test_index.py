"""The vector index: exact duplicates come back first, save/load, the auto choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from comix_resources.benchmarks.search_index import run_index_benchmark, unit_vectors
from comix_resources.search import AUTO_EXACT_MAX, VectorIndex, build_index
from comix_resources.search import index as index_module
from comix_resources.search.index import sampled_recall


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str]]:
    vectors = unit_vectors(2000, 32, np.random.default_rng(0), "clustered")
    return vectors, [f"page-{i:05d}" for i in range(len(vectors))]


@pytest.mark.parametrize("kind", ["exact", "usearch"])
def test_exact_duplicates_come_back_first(kind: str, data: tuple[np.ndarray, list[str]]) -> None:
    vectors, ids = data
    index = build_index(vectors, ids, kind=kind)
    picks = [0, 7, 1234, 1999]
    found, scores = index.search(vectors[picks], k=5)
    assert found.shape == (4, 5) and scores.shape == (4, 5)
    assert list(found[:, 0]) == [ids[i] for i in picks]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=2e-3)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    one, _ = index.search(vectors[7], k=3)  # a single 1-d query works too
    assert one[0, 0] == ids[7]


def test_exact_blocks_merge_like_one_product(
    data: tuple[np.ndarray, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors, ids = data
    queries = vectors[:10] + 0.05
    whole = build_index(vectors, ids, kind="exact").search(queries, k=10)
    monkeypatch.setattr(index_module, "BLOCK_ROWS", 300)  # 7 blocks, last one partial
    blocked = build_index(vectors, ids, kind="exact").search(queries, k=10)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_allclose(whole[1], blocked[1], rtol=1e-5)


@pytest.mark.parametrize("kind", ["exact", "usearch"])
def test_save_load_round_trip(
    kind: str, data: tuple[np.ndarray, list[str]], tmp_path: Path
) -> None:
    vectors, ids = data
    index = build_index(vectors, ids, kind=kind)
    target = tmp_path / "index" / "embedding_index"
    index.save(target)
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["embedding_index"]
    for view in (False, True):
        loaded = VectorIndex.load(target, view=view)
        assert loaded.kind == kind and len(loaded) == len(ids) and loaded.dim == 32
        if kind == "usearch":  # the beam its recall was measured at, not usearch's default
            assert loaded.hnsw.expansion_search == index.hnsw.expansion_search
        before, after = index.search(vectors[:20], 10), loaded.search(vectors[:20], 10)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_allclose(before[1], after[1], atol=1e-6)
    # Saving again swaps the folder in whole.
    build_index(vectors[:5], ids[:5], kind=kind).save(target)
    assert len(VectorIndex.load(target)) == 5


def test_auto_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit_vectors(50, 8, np.random.default_rng(1))
    ids = [str(i) for i in range(50)]
    assert build_index(vectors, ids, kind="auto").kind == "exact"
    assert AUTO_EXACT_MAX >= 50
    monkeypatch.setattr(index_module, "AUTO_EXACT_MAX", 49)
    assert build_index(vectors, ids, kind="auto").kind == "usearch"


def test_auto_checks_the_graph_and_falls_back_to_exact_search(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(index_module, "AUTO_EXACT_MAX", 100)
    ids = [str(i) for i in range(3000)]
    structured = unit_vectors(3000, 128, np.random.default_rng(0), "lowrank")
    graph = build_index(structured, ids, kind="auto")
    assert graph.kind == "usearch" and graph.recall >= index_module.MIN_HNSW_RECALL
    graph.save(tmp_path / "graph")
    assert VectorIndex.load(tmp_path / "graph").recall == graph.recall

    # No structure and a sparse graph: the graph misses most neighbours, so auto answers
    # with exact search instead.
    noise = unit_vectors(3000, 128, np.random.default_rng(0), "random")
    sparse = {"connectivity": 4, "expansion_add": 16, "expansion_search": 10}
    assert sampled_recall(build_index(noise, ids, kind="usearch", **sparse), noise) < 0.5
    fallback = build_index(noise, ids, kind="auto", **sparse)
    assert fallback.kind == "exact" and fallback.recall == 1.0
    assert sampled_recall(fallback, noise) == 1.0


def test_small_and_bad_inputs() -> None:
    vectors = unit_vectors(3, 8, np.random.default_rng(2))
    for kind in ("exact", "usearch"):
        found, scores = build_index(vectors, ["a", "b", "c"], kind=kind).search(vectors[:1], k=5)
        assert list(found[0, :1]) == ["a"] and list(found[0, 3:]) == [None, None]
        assert np.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError):
        build_index(vectors, ["a"], kind="exact")
    with pytest.raises(ValueError):
        build_index(vectors, ["a", "b", "c"], kind="faiss")  # type: ignore[arg-type]


def test_index_benchmark_small() -> None:
    result = run_index_benchmark(
        n=2000, dim=32, queries=20, data="clustered", exact_latency_queries=5, verbose=False
    )
    assert result["build_s"] > 0 and result["exact_p50_ms"] > 0
    assert all(0.0 <= row["recall_at_k"] <= 1.0 for row in result["search"].values())
