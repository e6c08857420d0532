import dataclasses

import numpy as np

from comix_resources.closure_lite.evaluate import (
    _retrieval,
    frozen_encoder_baselines,
    geometric_next_accuracy,
    passes_gate,
)


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


def test_frozen_encoder_baselines_use_the_most_informative_modality(features):
    rng = np.random.default_rng(0)
    informed = frozen_encoder_baselines(features)
    # Panels share their page's scene and pages their book's style: no training needed to
    # beat chance (0.2 for closure) on these features.
    assert informed["closure_baseline"] > 0.4
    chance = _retrieval(rng.normal(size=(len(features), 8)), features.book_ids)
    assert informed["retrieval_baseline"] > chance["retrieval_chance"] + 0.2

    def noise(like: np.ndarray) -> np.ndarray:
        return (rng.normal(size=like.shape) * features.mask[..., None]).astype(np.float32)

    # Image features of noise: the baseline still reads the text (the best of the three).
    text_only = frozen_encoder_baselines(
        dataclasses.replace(features, vision=noise(features.vision))
    )
    assert text_only["retrieval_baseline"] > chance["retrieval_chance"] + 0.2
    # Panels without text at all: every text score ties, which counts as chance, not as a hit.
    silent = frozen_encoder_baselines(
        dataclasses.replace(
            features, vision=noise(features.vision), text=np.zeros_like(features.text)
        )
    )
    assert silent["closure_baseline"] < 0.4
    assert silent["retrieval_baseline"] < chance["retrieval_chance"] + 0.15
    blind = frozen_encoder_baselines(
        dataclasses.replace(features, vision=noise(features.vision), text=noise(features.text))
    )
    assert blind["closure_baseline"] < 0.4
    assert blind["retrieval_baseline"] < chance["retrieval_chance"] + 0.15


def test_gate():
    good = {
        "next_panel_accuracy": 0.9,
        "next_panel_chance": 0.25,
        "next_panel_baseline": 1.0,
        "closure_accuracy": 0.5,
        "closure_chance": 0.2,
        "closure_baseline": 0.35,
        "retrieval_recall_at_10": 0.6,
        "retrieval_chance": 0.3,
        "retrieval_baseline": 0.45,
    }
    assert passes_gate(good) == (True, [])
    ok, reasons = passes_gate(good | {"closure_accuracy": 0.21, "next_panel_accuracy": 0.7})
    # closure misses chance and the frozen baseline, next-panel the geometric baseline
    assert not ok and len(reasons) == 3
    assert not passes_gate(good | {"retrieval_recall_at_10": float("nan")})[0]
    # Beating chance is not enough: the untrained encoders must be beaten too.
    ok, reasons = passes_gate(good | {"retrieval_baseline": 0.61})
    assert not ok and reasons == [
        "retrieval_recall_at_10 0.600 is below the frozen encoders' 0.610 (untrained)"
    ]
    assert not passes_gate({k: v for k, v in good.items() if k != "closure_baseline"})[0]
