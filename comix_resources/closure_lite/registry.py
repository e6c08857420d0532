"""Training runs in MLflow: train a variant, evaluate it, register it, gate the champion.

``train_and_register`` is what the ``closure_lite`` asset does for one variant, as plain
Python: one MLflow run with the config as params, per-epoch losses, the validation metrics,
the model (``torch.export`` format, with signature, input example and pinned requirements)
registered as a new version of ``closure-lite-<variant>``, and the weights as a
``predictor/`` artifact (``ClosureLitePredictor``: the full module with its heads, which the
exported forward graph does not keep). The ``champion`` alias moves only when the version
passes the evaluation gate and beats the current champion on ``CHAMPION_METRIC``.

``load_champion`` is the other end: the embeddings asset's model, with its lineage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from comix_resources.closure_lite.config import VARIANTS, ClosureLiteConfig
from comix_resources.closure_lite.encoding import PanelCrops
from comix_resources.closure_lite.features import PanelFeatures
from comix_resources.tracking import GateVerdict, ModelVersionInfo, Tracker

CHAMPION_ALIAS = "champion"
# Same-book retrieval is the figure the embeddings are for (search, maps); next-panel and
# closure accuracies are gated but not compared, since they saturate on clean layouts.
CHAMPION_METRIC = "val_retrieval_recall_at_10"
PREDICTOR_ARTIFACT = "predictor"
EXAMPLE_PAGES = 2  # > 1 so torch.export keeps the batch dimension dynamic
_REQUIREMENTS = ("torch", "numpy", "mlflow")


def model_name(variant: str) -> str:
    return f"closure-lite-{variant}"


def pip_requirements() -> list[str]:
    """The installed versions of what the logged model needs, pinned."""
    return [f"{package}=={metadata.version(package)}" for package in _REQUIREMENTS]


@dataclass
class TrainingOutcome:
    variant: str
    version: ModelVersionInfo
    metrics: dict[str, float]
    passed_gate: bool
    gate_reasons: list[str]
    promoted: bool
    promotion_reason: str
    champion_version: int | None
    epochs: int
    best_epoch: int
    seconds_per_epoch: float
    train_pages: int
    val_pages: int
    train_books: int
    val_books: int
    run_url: str
    model_version_url: str


def packed_inputs(features: PanelFeatures) -> np.ndarray:
    """The exported model's one input: (N, P, Dv + Dt + C + 1) float32, the vision, text and
    composition features of each panel slot with the mask (1.0 for a real panel) last.

    MLflow's ``pt2`` format takes a single tensor signature, hence one packed array.
    """
    return np.concatenate(
        [features.vision, features.text, features.composition, features.mask[..., None]],
        axis=-1,
    ).astype(np.float32)


def page_embedder(model: Any) -> Any:
    """``model`` wrapped to map ``packed_inputs`` to (N, 384) page embeddings."""
    import torch

    config = model.config
    cuts = np.cumsum([config.vision_dim, config.text_dim, config.composition_dim]).tolist()

    class PageEmbedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, packed: torch.Tensor) -> torch.Tensor:
            vision, text, composition, mask = torch.tensor_split(packed, cuts, dim=-1)
            return self.inner(vision, text, composition, mask.squeeze(-1) > 0.5).page

    return PageEmbedder().eval()


def describe(variant: str, metrics: dict[str, float], passed: bool, finetuned: bool = False) -> str:
    verdict = "passed" if passed else "FAILED"
    vision = (
        "crops through its own fine-tuned EfficientNet-Lite0 (in the predictor artifact; "
        "the packed input's vision part must come from it)"
        if finetuned
        else "frozen EfficientNet-Lite0 crops"
    )
    return (
        f"Closure Lite `{variant}`: 384-d panel and page embeddings (gated fusion of "
        f"{vision}, MiniLM text and layout; attention pooling; reading-order "
        f"head). Evaluation gate {verdict} on held-out books: next-panel "
        f"{metrics.get('next_panel_accuracy', float('nan')):.3f} (baseline "
        f"{metrics.get('next_panel_baseline', float('nan')):.3f}), closure "
        f"{metrics.get('closure_accuracy', float('nan')):.3f} (chance 0.2, frozen encoders "
        f"{metrics.get('closure_baseline', float('nan')):.3f}), same-book recall@10 "
        f"{metrics.get('retrieval_recall_at_10', float('nan')):.3f} (chance "
        f"{metrics.get('retrieval_chance', float('nan')):.3f}, frozen encoders "
        f"{metrics.get('retrieval_baseline', float('nan')):.3f})."
    )


def train_and_register(
    features: PanelFeatures,
    config: ClosureLiteConfig,
    tracker: Tracker,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    crops: PanelCrops | None = None,
    device: str = "cpu",
) -> TrainingOutcome:
    """Train ``config.variant`` on ``features``, log and register it, and gate the champion.

    ``crops`` and ``device``: see ``train`` (fine-tuning); a fine-tuned model is evaluated on
    the features of its own vision encoder.
    """
    from comix_resources.closure_lite.evaluate import passes_gate
    from comix_resources.closure_lite.inference import ClosureLitePredictor
    from comix_resources.closure_lite.train import train

    name = model_name(config.variant)
    run_tags = {"variant": config.variant, "model": name, **(tags or {})}
    with tracker.start_run(run_name=f"{name} seed {seed}", tags=run_tags) as run_id:
        tracker.log_params({**dataclasses.asdict(config), "seed": seed, "pages": len(features)})

        result = train(
            features,
            config,
            seed=seed,
            on_epoch=tracker.epoch_logger(on_epoch),
            crops=crops,
            device=device,
        )
        model = result.model()
        validation, metrics = result.evaluate(model, features, crops, device, seed)
        passed, reasons = passes_gate(metrics)
        tracker.log_metrics({f"val_{k}": v for k, v in metrics.items()})
        tracker.log_metrics(
            {
                "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss,
                "mean_seconds_per_epoch": result.seconds_per_epoch,
                "passed_gate": float(passed),
            }
        )
        example = validation.subset(np.arange(min(EXAMPLE_PAGES, len(validation))))
        version = tracker.log_torch_model(
            page_embedder(model),
            name="model",
            input_example=packed_inputs(example),
            pip_requirements=pip_requirements(),
            description=describe(config.variant, metrics, passed, config.finetune_vision),
            registered_model_name=name,
        )
        tracker.log_folder(ClosureLitePredictor(model).save, PREDICTOR_ARTIFACT)
        promoted, why = tracker.gate_version(
            name, version.version, passed, reasons, CHAMPION_METRIC
        )
    return TrainingOutcome(
        variant=config.variant,
        version=version,
        metrics=metrics,
        passed_gate=passed,
        gate_reasons=reasons,
        promoted=promoted,
        promotion_reason=why,
        champion_version=tracker.champion_version(name, CHAMPION_ALIAS),
        epochs=len(result.history),
        best_epoch=result.best_epoch,
        seconds_per_epoch=result.seconds_per_epoch,
        train_pages=len(result.train_index),
        val_pages=len(result.val_index),
        train_books=len(set(features.book_ids[result.train_index])),
        val_books=len(set(features.book_ids[result.val_index])),
        run_url=tracker.run_url(run_id),
        model_version_url=tracker.model_version_url(name, version.version),
    )


@dataclass
class ChampionModel:
    predictor: Any  # ClosureLitePredictor
    name: str
    version: int
    run_id: str
    model_version_url: str
    experiment_id: str = ""

    @property
    def lineage(self) -> dict[str, Any]:
        """What the Zarr group and the search bundle record about the model."""
        return {
            "model_name": self.name,
            "model_version": self.version,
            "model_uri": f"models:/{self.name}/{self.version}",
            "mlflow_run_id": self.run_id,
            "mlflow_experiment_id": self.experiment_id,
            "variant": self.predictor.config.variant,
        }


def load_model(tracker: Tracker, variant: str, version: int | None = None) -> ChampionModel:
    """A version of ``closure-lite-<variant>`` (default: its ``champion``), with lineage.

    LookupError, saying what to materialize, when there is no champion yet.
    """
    from comix_resources.closure_lite.inference import ClosureLitePredictor

    name = model_name(variant)
    if version is None:
        version = tracker.champion_version(name, CHAMPION_ALIAS)
    if version is None:
        raise LookupError(
            f"{name} has no {CHAMPION_ALIAS!r} version in the MLflow registry: materialize "
            f"closure_lite partition {variant!r}; a version becomes champion when it passes "
            f"its evaluation check"
        )
    run_id = tracker.client.get_model_version(name, str(version)).run_id
    predictor = tracker.load_version_folder(
        name, version, PREDICTOR_ARTIFACT, ClosureLitePredictor.load
    )
    return ChampionModel(
        predictor,
        name,
        version,
        run_id,
        tracker.model_version_url(name, version),
        tracker.client.get_run(run_id).info.experiment_id,
    )


def load_embedding_model(tracker: Tracker, preferred: str) -> ChampionModel:
    """The champion of ``preferred``, else of the first other variant that has one (richest
    first: context-denoise, context, denoise, base), so that one variant failing its gate
    does not stop the corpus from being embedded; the returned lineage names the variant.
    LookupError when no variant has a champion."""
    order = [preferred, *(v for v in reversed(VARIANTS) if v != preferred)]
    for variant in order:
        if tracker.champion_version(model_name(variant), CHAMPION_ALIAS) is not None:
            return load_model(tracker, variant)
    raise LookupError(
        f"no Closure Lite variant has a {CHAMPION_ALIAS!r} version: materialize closure_lite "
        f"(partition {preferred!r} first); a version becomes champion when it passes its "
        f"evaluation check"
    )


def load_champion(tracker: Tracker, variant: str) -> ChampionModel:
    """The ``champion`` of ``closure-lite-<variant>`` (see ``load_model``)."""
    return load_model(tracker, variant)


def version_gate(tracker: Tracker, variant: str, version: int | None = None) -> GateVerdict:
    """The evaluation gate of ``closure-lite-<variant>`` version ``version`` (default: the
    newest), from the validation metrics its run logged: what the asset check reports."""
    from comix_resources.closure_lite.evaluate import passes_gate

    name = model_name(variant)
    version = version or tracker.latest_version(name)
    if version is None:
        raise LookupError(f"{name} has no registered version: materialize closure_lite/{variant}")
    logged = tracker.version_metrics(name, version)
    metrics = {k.removeprefix("val_"): v for k, v in logged.items() if k.startswith("val_")}
    passed, reasons = passes_gate(metrics)
    return GateVerdict(
        model_name=name,
        version=int(version),
        passed=passed,
        reasons=reasons,
        metrics=metrics,
        champion_version=tracker.champion_version(name, CHAMPION_ALIAS),
        model_version_url=tracker.model_version_url(name, version),
    )
