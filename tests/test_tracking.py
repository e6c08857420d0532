"""The MLflow layer against a real MLflow (sqlite store and artifacts under tmp_path).

Only the pure helpers run without MLflow; everything else pays MLflow's import (about 5 s) and
``torch.export``'s first-use warm-up (about 4-7 s), once per module, hence ``slow``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from comix_resources.tracking import (
    REDACTED,
    ModelVersionInfo,
    Tracker,
    model_version_url,
    redact_params,
    run_url,
    sqlite_tracking_uri,
)

MODEL = "closure_lite_test"
PIP = ["torch", "numpy"]


def test_redact_params_hides_secret_keys_and_values() -> None:
    clean = redact_params(
        {
            "lr": 0.001,
            "vlm_api_key": "abc",
            "HF_TOKEN": "x",
            "db_password": "p",
            "client_secret": "s",
            "endpoint_args": "--header sk-abcdefghijklmnop",
            "variant": "context-denoise",
            "missing": None,
            "long": "x" * 7000,
        }
    )
    assert clean["lr"] == "0.001"
    assert clean["variant"] == "context-denoise"
    assert clean["missing"] == "None"
    for key in ("vlm_api_key", "HF_TOKEN", "db_password", "client_secret", "endpoint_args"):
        assert clean[key] == REDACTED
    assert len(clean["long"]) == 6000


def test_url_helpers() -> None:
    assert run_url("http://127.0.0.1:5000/", "abc") == "http://127.0.0.1:5000/#/runs/abc"
    assert (
        run_url("http://h:5000", "abc", experiment_id="3")
        == "http://h:5000/#/experiments/3/runs/abc"
    )
    assert (
        model_version_url("http://127.0.0.1:5000", "closure lite/x", 2)
        == "http://127.0.0.1:5000/#/models/closure%20lite%2Fx/versions/2"
    )
    assert sqlite_tracking_uri("/tmp/x/../mlflow.db") == "sqlite:////tmp/mlflow.db"


def _tiny_model(seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 4)
    )


def _train_and_log(
    tracker: Tracker, seed: int, accuracy: float, timings: list[float]
) -> ModelVersionInfo:
    example = np.random.default_rng(seed).normal(size=(4, 8)).astype(np.float32)
    with tracker.start_run(run_name=f"seed-{seed}", tags={"variant": "base"}):
        tracker.log_params({"seed": seed, "vlm_api_key": "sk-should-never-appear"})
        tracker.log_metrics({"val_accuracy": accuracy}, step=0)
        start = time.perf_counter()
        info = tracker.log_torch_model(
            _tiny_model(seed),
            name="model",
            input_example=example,
            pip_requirements=PIP,
            description=f"tiny model, seed {seed}",
            registered_model_name=MODEL,
        )
        timings.append(time.perf_counter() - start)
    return info


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One store with four versions (0.70, 0.60, 0.80, 0.95 with a failed gate) and the
    promotion decisions taken after each, in order."""
    home = tmp_path_factory.mktemp("comix-home")
    tracker = Tracker(sqlite_tracking_uri(home / "mlflow.db"), home / "mlartifacts", "closure_lite")
    timings: list[float] = []
    decisions = []
    infos = []
    for seed, accuracy, gate in (
        (1, 0.70, True),
        (2, 0.60, True),
        (3, 0.80, True),
        (4, 0.95, False),
    ):
        info = _train_and_log(tracker, seed, accuracy, timings)
        infos.append(info)
        decisions.append(
            tracker.promote_if_better(
                MODEL, info.version, "val_accuracy", higher_is_better=True, gate_passed=gate
            )
        )
    print(f"log_model seconds (pt2): {[round(t, 2) for t in timings]}")
    return {"home": home, "tracker": tracker, "infos": infos, "decisions": decisions}


@pytest.mark.slow
def test_versions_are_registered_in_order(store: dict[str, Any]) -> None:
    infos: list[ModelVersionInfo] = store["infos"]
    assert [i.version for i in infos] == [1, 2, 3, 4]
    assert infos[0].model_uri == f"models:/{MODEL}/1"
    client = store["tracker"].client
    assert client.get_model_version(MODEL, "3").description == "tiny model, seed 3"
    assert client.get_model_version(MODEL, "1").run_id == infos[0].run_id


@pytest.mark.slow
def test_promotion_follows_gate_and_metric(store: dict[str, Any]) -> None:
    promoted = [d[0] for d in store["decisions"]]
    assert promoted == [True, False, True, False]
    reasons = [d[1] for d in store["decisions"]]
    assert "first champion" in reasons[0]
    assert "does not beat" in reasons[1]
    assert "beats version 1" in reasons[2]
    assert "gate" in reasons[3]
    tracker: Tracker = store["tracker"]
    assert tracker.champion_version(MODEL) == 3
    # Lower-is-better: version 2 (0.60) beats the champion's 0.80 on a loss-like reading.
    assert tracker.promote_if_better(MODEL, 2, "val_accuracy", False, True)[0]
    assert tracker.champion_version(MODEL) == 2
    assert tracker.promote_if_better(MODEL, 2, "val_accuracy", False, True) == (
        False,
        "version 2 already is champion",
    )
    tracker.client.set_registered_model_alias(MODEL, "champion", "3")  # restore for others


@pytest.mark.slow
def test_load_champion_gives_the_same_outputs(store: dict[str, Any]) -> None:
    import torch

    original = _tiny_model(3).eval()
    loaded = store["tracker"].load_champion(MODEL)
    batch = torch.randn(7, 8)  # another batch size than the example: the batch dim is dynamic
    with torch.no_grad():
        assert torch.allclose(loaded(batch), original(batch), atol=1e-6)


@pytest.mark.slow
def test_params_metrics_and_no_secrets(store: dict[str, Any]) -> None:
    tracker: Tracker = store["tracker"]
    run = tracker.client.get_run(store["infos"][0].run_id)
    assert run.data.params["seed"] == "1"
    assert run.data.params["vlm_api_key"] == REDACTED
    assert run.data.metrics["val_accuracy"] == pytest.approx(0.70)
    assert run.data.tags["variant"] == "base"
    db = (store["home"] / "mlflow.db").read_bytes()
    assert b"sk-should-never-appear" not in db
    for path in (store["home"] / "mlartifacts").rglob("*"):
        if path.is_file():
            assert b"sk-should-never-appear" not in path.read_bytes(), path


@pytest.mark.slow
def test_artifacts_live_under_the_artifact_root(store: dict[str, Any]) -> None:
    tracker: Tracker = store["tracker"]
    home: Path = store["home"]
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    assert experiment.artifact_location == (home / "mlartifacts").resolve().as_uri()
    assert list((home / "mlartifacts").rglob("MLmodel"))
    assert not Path("mlruns").exists() or not any(Path("mlruns").rglob(MODEL))
    assert tracker.run_url("r1").endswith(f"/#/experiments/{tracker.experiment_id}/runs/r1")


@pytest.mark.slow
def test_failed_run_is_marked_failed(store: dict[str, Any]) -> None:
    tracker: Tracker = store["tracker"]
    with pytest.raises(ValueError), tracker.start_run(run_name="crash") as run_id:
        raise ValueError("boom")
    assert tracker.client.get_run(run_id).info.status == "FAILED"


@pytest.mark.slow
def test_pickle_format_round_trip(store: dict[str, Any]) -> None:
    import torch

    # The same store (a fresh sqlite store costs about 5 s of migrations), another experiment.
    home: Path = store["home"]
    tracker = Tracker(
        sqlite_tracking_uri(home / "mlflow.db"),
        home / "mlartifacts",
        "pickled",
        serialization_format="pickle",
    )
    model = _tiny_model(5)
    with tracker.start_run(run_name="pickle"):
        tracker.log_metrics({"loss": 0.5, "bad": float("nan")})
        info = tracker.log_torch_model(
            model, "model", np.zeros((2, 8), np.float32), PIP, registered_model_name="pickled"
        )
    assert model.training  # the caller's mode is restored
    assert tracker.promote_if_better("pickled", info.version, "loss", False, True)[0]
    loaded = tracker.load_champion("pickled", allow_pickle=True)
    assert isinstance(loaded, torch.nn.Sequential)
    assert "bad" not in tracker.client.get_run(info.run_id).data.metrics


KILLED_TRAINING = """
import os, signal, sys
from comix_resources.tracking import Tracker
tracker = Tracker(sys.argv[1], sys.argv[2], "closure_lite")
with tracker.start_run(run_name="killed") as run_id:
    print(run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_run_whose_process_was_killed_is_closed_as_killed(store: dict[str, Any]) -> None:
    import subprocess
    import sys

    tracker: Tracker = store["tracker"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_TRAINING, tracker.tracking_uri, str(tracker.artifact_root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    run_id = killed.stdout.split()[0]
    assert tracker.client.get_run(run_id).info.status == "RUNNING"  # what kill -9 leaves
    with tracker.start_run(run_name="live") as live:
        # Closing happens when the next run starts; the live run itself is never touched.
        assert tracker.client.get_run(run_id).info.status == "KILLED"
        assert tracker.close_abandoned_runs() == []
        assert tracker.client.get_run(live).info.status == "RUNNING"
