"""The learned detector in MLflow: one training run, its evaluation on real pages, the champion.

``train_and_register`` trains on a generated page set, scores the trained detector and the
contour detector on the same real pages with the caller's ``evaluate`` (the real-pages
benchmark), logs both, and registers a version of ``panel-detector``: the whole model (pickle
format: torchvision's detection models do not go through ``torch.export``) plus the weights as
the ``detector/`` folder that ``load_champion`` reads without unpickling. The gate: the learned
detector's F1 at IoU 0.5 on the real pages must beat the contour detector's; only then may the
version become ``champion`` (and beat the champion's own figure), which ``COMIX_DETECTOR=learned``
uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from comix_resources.detection.base import PanelDetector
from comix_resources.detection.contour import ContourDetector
from comix_resources.detection.learned import LearnedConfig, LearnedDetector
from comix_resources.detection.training import TrainConfig, train_detector
from comix_resources.tracking import GateVerdict, ModelVersionInfo, Tracker

MODEL_NAME = "panel-detector"
EXPERIMENT = "panel-detector"
CHAMPION_ALIAS = "champion"
CHAMPION_METRIC = "real_f1"
DETECTOR_ARTIFACT = "detector"
# The figures ``evaluate`` returns that the gate and the UI use.
EVALUATED = ("f1", "precision", "recall", "f1_iou08", "exact_count", "order_ok", "s_per_page")


@dataclass(frozen=True)
class DetectorOutcome:
    version: ModelVersionInfo
    learned: dict[str, float]
    contour: dict[str, float]
    passed_gate: bool
    gate_reason: str
    promoted: bool
    promotion_reason: str
    champion_version: int | None
    steps: int
    seconds: float
    pages: int
    run_url: str
    model_version_url: str


def gate(learned: Mapping[str, float], contour: Mapping[str, float]) -> tuple[bool, str]:
    """Whether the learned detector beats the contour detector on the real pages."""
    passed = learned["f1"] > contour["f1"]
    verdict = "beats" if passed else "does not beat"
    return passed, (
        f"real-page F1@0.5 {learned['f1']:.3f} {verdict} the contour detector's {contour['f1']:.3f}"
    )


def train_and_register(
    pages: Path,
    tracker: Tracker,
    evaluate: Callable[[PanelDetector], dict[str, float]],
    config: TrainConfig | None = None,
    model_config: LearnedConfig | None = None,
    tags: dict[str, str] | None = None,
) -> DetectorOutcome:
    """Train on the generated ``pages``, evaluate against contour, register, gate."""
    config = config or TrainConfig()
    model_config = model_config or LearnedConfig()
    with tracker.start_run(run_name=f"{MODEL_NAME} seed {config.seed}", tags=tags or {}) as run:
        tracker.log_params(
            {**dataclasses.asdict(config), **dataclasses.asdict(model_config), "pages": str(pages)}
        )
        result = train_detector(pages, config, model_config, on_log=tracker.epoch_logger())
        learned = evaluate(result.detector)
        contour = evaluate(ContourDetector())
        passed, reason = gate(learned, contour)
        tracker.log_metrics(
            {
                **{f"real_{k}" if k != "f1" else CHAMPION_METRIC: v for k, v in learned.items()},
                **{f"contour_{k}": v for k, v in contour.items()},
                "passed_gate": float(passed),
                "train_steps": float(result.steps),
                "train_seconds": result.seconds,
            }
        )
        version = _log_model(tracker, result.detector, learned, contour, passed)
        tracker.log_folder(result.detector.save, DETECTOR_ARTIFACT)
        promoted, why = tracker.gate_version(
            MODEL_NAME, version.version, passed, [] if passed else [reason], CHAMPION_METRIC
        )
    return DetectorOutcome(
        version=version,
        learned=learned,
        contour=contour,
        passed_gate=passed,
        gate_reason=reason,
        promoted=promoted,
        promotion_reason=why,
        champion_version=tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS),
        steps=result.steps,
        seconds=result.seconds,
        pages=result.pages,
        run_url=tracker.run_url(run),
        model_version_url=tracker.model_version_url(MODEL_NAME, version.version),
    )


def _log_model(
    tracker: Tracker,
    detector: LearnedDetector,
    learned: Mapping[str, float],
    contour: Mapping[str, float],
    passed: bool,
) -> ModelVersionInfo:
    pickled = Tracker(
        tracker.tracking_uri,
        tracker.artifact_root,
        tracker.experiment,
        ui_base=tracker.ui_base,
        serialization_format="pickle",
    )
    packages = ("torch", "torchvision", "numpy", "mlflow")
    return pickled.log_torch_model(
        detector.model,
        name="model",
        input_example=None,
        pip_requirements=[f"{p}=={metadata.version(p)}" for p in packages],
        description=(
            "Panel detector (Faster R-CNN, EfficientNet-Lite0 FPN, CoMix label map) trained on "
            f"generated pages. Real pages: F1@0.5 {learned['f1']:.3f} (contour "
            f"{contour['f1']:.3f}), F1@0.8 {learned['f1_iou08']:.3f}; gate "
            f"{'passed' if passed else 'FAILED'}."
        ),
        registered_model_name=MODEL_NAME,
    )


def load_champion(tracker: Tracker) -> tuple[LearnedDetector, int] | None:
    """``(detector, version)`` of the ``champion``, or None when no version has won."""
    version = tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS)
    if version is None:
        return None

    def load(folder: Path) -> LearnedDetector:
        return LearnedDetector.load(folder, version=f"{MODEL_NAME}/{version}")

    return tracker.load_version_folder(MODEL_NAME, version, DETECTOR_ARTIFACT, load), version


def champion_detector(tracker: Tracker) -> Any:
    """The champion's detector; a ValueError when there is none (``COMIX_DETECTOR=learned``)."""
    found = load_champion(tracker)
    if found is None:
        raise ValueError(
            f"COMIX_DETECTOR=learned needs a champion version of {MODEL_NAME!r} in MLflow "
            f"({tracker.tracking_uri}); materialize panel_detector first, and it becomes "
            "champion only when it beats the contour detector on real pages"
        )
    return found[0]


def version_gate(tracker: Tracker, version: int | None = None) -> GateVerdict:
    """The gate of ``panel-detector`` version ``version`` (default: the newest), from the
    real-page figures its run logged for it and for the contour detector."""
    version = version or tracker.latest_version(MODEL_NAME)
    if version is None:
        raise LookupError(f"{MODEL_NAME} has no registered version: materialize panel_detector")
    logged = tracker.version_metrics(MODEL_NAME, version)
    nan = float("nan")
    passed, reason = gate(
        {"f1": logged.get(CHAMPION_METRIC, nan)}, {"f1": logged.get("contour_f1", nan)}
    )
    return GateVerdict(
        model_name=MODEL_NAME,
        version=int(version),
        passed=passed,
        reasons=[] if passed else [reason],
        metrics=logged,
        champion_version=tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS),
        model_version_url=tracker.model_version_url(MODEL_NAME, version),
    )
