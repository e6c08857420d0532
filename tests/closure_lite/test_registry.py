"""Training runs through MLflow: registration, the gate, the champion alias, loading it back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from comix_resources.closure_lite.inference import embed_pages
from comix_resources.closure_lite.registry import (
    CHAMPION_METRIC,
    PREDICTOR_ARTIFACT,
    load_champion,
    load_embedding_model,
    model_name,
    packed_inputs,
    train_and_register,
)
from comix_resources.tracking import Tracker, sqlite_tracking_uri
from tests.closure_lite.conftest import small_config, synthetic_features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    home = tmp_path_factory.mktemp("mlflow-home")
    return Tracker(sqlite_tracking_uri(home / "mlflow.db"), home / "mlartifacts", "closure-lite")


def test_a_learnable_variant_is_registered_promoted_and_loads_back(tracker: Tracker) -> None:
    torch.set_num_threads(1)
    # Raw features dominated by a per-panel nuisance: the model must learn to see past it
    # to beat the frozen-encoder baselines of the gate.
    features = synthetic_features(n_books=12, pages_per_book=8, seed=3, nuisance=12.0)
    epochs: list[int] = []
    outcome = train_and_register(
        features, small_config("context"), tracker, seed=0, on_epoch=lambda e, _: epochs.append(e)
    )
    name = model_name("context")
    assert outcome.version.name == name and outcome.version.version == 1
    assert outcome.passed_gate, outcome.gate_reasons
    assert outcome.metrics["closure_accuracy"] > outcome.metrics["closure_baseline"] + 0.3
    assert outcome.promoted and outcome.champion_version == 1
    assert epochs == list(range(outcome.epochs))
    assert outcome.train_books + outcome.val_books == 12

    run = tracker.client.get_run(outcome.version.run_id)
    assert run.data.params["variant"] == "context"
    assert run.data.metrics[CHAMPION_METRIC] == pytest.approx(
        outcome.metrics["retrieval_recall_at_10"]
    )
    version = tracker.client.get_model_version(name, "1")
    assert version.tags["evaluation_gate"] == "passed"
    assert "Closure Lite `context`" in version.description
    assert any(a.path == PREDICTOR_ARTIFACT for a in tracker.client.list_artifacts(run.info.run_id))

    champion = load_champion(tracker, "context")
    assert champion.version == 1 and champion.lineage["mlflow_run_id"] == run.info.run_id
    ours = embed_pages(outcome_model(tracker, outcome.version.run_id), features)
    theirs = embed_pages(champion.predictor.model, features)
    np.testing.assert_allclose(ours["page_embeddings"], theirs["page_embeddings"], atol=1e-5)

    # The registered (torch.export) model answers with the same page embeddings.
    exported = tracker.load_champion(name)
    inputs = features.subset(np.arange(5))
    with torch.no_grad():
        page = exported(torch.as_tensor(packed_inputs(inputs)))
    np.testing.assert_allclose(page.numpy(), theirs["page_embeddings"][:5], atol=1e-4)


def outcome_model(tracker: Tracker, run_id: str) -> torch.nn.Module:
    from comix_resources.closure_lite.inference import ClosureLitePredictor

    folder = tracker.download_artifacts(
        run_id, PREDICTOR_ARTIFACT, Path(tracker.artifact_root).parent / "dl"
    )
    return ClosureLitePredictor.load(folder).model


def test_a_model_that_learned_nothing_is_registered_but_never_champion(tracker: Tracker) -> None:
    torch.set_num_threads(1)
    features = synthetic_features(n_books=6, pages_per_book=8, seed=5)
    # Pure noise: shuffle every modality across pages, so nothing ties a page to its book.
    rng = np.random.default_rng(0)
    noise = dataclasses.replace(
        features,
        vision=rng.permutation(features.vision.reshape(-1, features.vision.shape[-1])).reshape(
            features.vision.shape
        ),
        text=np.zeros_like(features.text),
    )
    outcome = train_and_register(noise, small_config("base", max_epochs=2), tracker, seed=0)
    assert not outcome.passed_gate and outcome.gate_reasons
    assert not outcome.promoted and "gate" in outcome.promotion_reason
    name = model_name("base")
    assert (
        tracker.client.get_model_version(name, str(outcome.version.version)).tags["evaluation_gate"]
        == "failed"
    )
    with pytest.raises(LookupError, match="closure_lite partition 'base'"):
        load_champion(tracker, "base")
    # Embedding prefers the asked variant, and falls back to one that has a champion.
    fallback = load_embedding_model(tracker, "base")
    assert fallback.lineage["variant"] == "context" and fallback.version == 1
