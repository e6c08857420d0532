"""The learned detector: model folder, training on generated pages, MLflow registry and gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from comix_resources.detection import make_detector
from comix_resources.detection.learned import LearnedDetector
from comix_resources.detection.registry import gate
from comix_resources.tracking import sqlite_tracking_uri


def test_learned_needs_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder=PATH"):
        make_detector("learned")
    with pytest.raises(ValueError, match=str(tmp_path)):
        LearnedDetector.load(tmp_path)
    with pytest.raises(ValueError, match="learned"):
        make_detector("nope")


def test_gate_needs_more_than_contour() -> None:
    assert gate({"f1": 0.93}, {"f1": 0.91})[0] is True
    passed, reason = gate({"f1": 0.91}, {"f1": 0.91})
    assert passed is False and "does not beat" in reason and "0.910" in reason


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from comix_resources.demo.detector_pages import write_detector_pages

    folder = tmp_path_factory.mktemp("detector-pages")
    write_detector_pages(folder, 4, seed=3)
    return folder


@pytest.mark.slow
def test_trains_on_the_cpu_and_round_trips_through_its_folder(pages: Path, tmp_path: Path) -> None:
    from comix_resources.demo.detector_pages import detector_page
    from comix_resources.detection.training import TrainConfig, read_training_set, train_detector

    assert len(read_training_set(pages)) == 4
    logged: list[int] = []
    result = train_detector(
        pages,
        TrainConfig(steps=4, batch_size=2, warmup_steps=1, log_every=2),
        on_log=lambda step, entry: logged.append(step) or None,
    )
    assert result.steps == 4 and logged == [2, 4]
    assert all(np.isfinite(entry["loss"]) for entry in result.history)
    result.detector.save(tmp_path / "model")
    loaded = LearnedDetector.load(tmp_path / "model")
    page = detector_page(3).image
    first, again = result.detector.detect(page), loaded.detect(page)
    assert [p.bbox for p in first.panels] == [p.bbox for p in again.panels]
    assert first.width == page.shape[1] and first.panels  # at least the whole-page panel
    cover = loaded.detect(page, page_type="cover")
    assert len([p for p in cover.panels if p.category == "panel"]) == 1


@pytest.mark.slow
def test_registry_promotes_only_a_detector_that_beats_contour(pages: Path, tmp_path: Path) -> None:
    from comix_resources.detection.registry import (
        MODEL_NAME,
        champion_detector,
        load_champion,
        train_and_register,
    )
    from comix_resources.detection.training import TrainConfig
    from comix_resources.tracking import Tracker

    tracker = Tracker(sqlite_tracking_uri(tmp_path / "mlflow.db"), tmp_path / "art", MODEL_NAME)
    config = TrainConfig(steps=1, batch_size=1, warmup_steps=1, log_every=1)

    def figures(f1: float) -> dict[str, float]:
        keys = ("precision", "recall", "f1_iou08", "exact_count", "order_ok", "s_per_page")
        return {"f1": f1, **dict.fromkeys(keys, 0.5)}

    # The caller's evaluation (the real-pages benchmark in the asset) decides; here it says
    # the learned detector loses, then wins.
    losing = train_and_register(
        pages, tracker, lambda d: figures(0.4 if d.name == "learned" else 0.9), config
    )
    assert not losing.passed_gate and not losing.promoted and losing.champion_version is None
    with pytest.raises(ValueError, match="champion"):
        champion_detector(tracker)
    winning = train_and_register(
        pages, tracker, lambda d: figures(0.95 if d.name == "learned" else 0.9), config
    )
    assert winning.passed_gate and winning.promoted
    assert winning.champion_version == winning.version.version == 2
    detector, version = load_champion(tracker)
    assert version == 2 and detector.version == f"{MODEL_NAME}/2"
    assert tracker.version_metric(MODEL_NAME, 2, "contour_f1") == pytest.approx(0.9)

    # COMIX_DETECTOR=learned: the pipeline's detection resource builds the champion.
    from comix_resources.resources import PanelDetectorResource

    resource = PanelDetectorResource(
        detector="learned",
        tracking_uri=sqlite_tracking_uri(tmp_path / "mlflow.db"),
        artifact_root=str(tmp_path / "art"),
    )
    built = resource.build()
    assert isinstance(built, LearnedDetector) and built.version == f"{MODEL_NAME}/2"
