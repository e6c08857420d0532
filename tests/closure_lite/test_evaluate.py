import numpy as np

from comix_resources.closure_lite.evaluate import _retrieval, geometric_next_accuracy, passes_gate


def test_geometric_baseline_reads_grids(features):
    accuracy, chance = geometric_next_accuracy(features)
    assert accuracy == 1.0 and 0 < chance < 0.5


def test_retrieval_chance_matches_random_embeddings():
    rng = np.random.default_rng(0)
    books = np.repeat(np.arange(10), 20)
    random = _retrieval(rng.normal(size=(200, 8)), books)
    assert abs(random["retrieval_recall_at_10"] - random["retrieval_chance"]) < 0.05
    clustered = _retrieval(np.eye(10)[books] + 0.01 * rng.normal(size=(200, 10)), books)
    assert clustered["retrieval_recall_at_10"] == 1.0


def test_gate():
    good = {
        "next_panel_accuracy": 0.9,
        "next_panel_chance": 0.25,
        "next_panel_baseline": 1.0,
        "closure_accuracy": 0.5,
        "closure_chance": 0.2,
        "retrieval_recall_at_10": 0.6,
        "retrieval_chance": 0.3,
    }
    assert passes_gate(good) == (True, [])
    ok, reasons = passes_gate(good | {"closure_accuracy": 0.21, "next_panel_accuracy": 0.7})
    assert not ok and len(reasons) == 2
    assert not passes_gate(good | {"retrieval_recall_at_10": float("nan")})[0]
