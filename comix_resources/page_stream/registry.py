"""The page-stream model in MLflow: labels from the lake, one training run, the gate, loading.

Labels come from a CoSMo split file keyed by ``book_id`` (``COMIX_PAGE_TYPE_LABELS``, format
in ``labels``), from ``<book file>.truth.json`` beside a book (the demo library's ground
truth) and from the page types of a book's ComicInfo.xml (``labels.comicinfo_labels``), in
that order of preference for a book that has several.

``train_and_register`` trains on the labelled books, scores the model *and* the rule-based
fallback on the same held-out books, logs both to MLflow and registers a version of
``page-stream``. The gate: the model's held-out macro-F1 must be at least the rules' (so
switching from the fallback to the model never makes page types worse) and its accuracy must
beat always answering the most common class. ``champion`` moves when the gate passes and the
version beats the champion's macro-F1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from comix_resources.page_classes import normalise_page_class
from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.page_stream.features import BookFeatures
from comix_resources.page_stream.labels import comicinfo_labels
from comix_resources.tracking import GateVerdict, ModelVersionInfo, Tracker

MODEL_NAME = "page-stream"
EXPERIMENT = "page-stream"
CHAMPION_ALIAS = "champion"
CHAMPION_METRIC = "val_macro_f1"
PREDICTOR_ARTIFACT = "predictor"
TRUTH_SUFFIX = ".truth.json"
# The digest of what a version was trained on: the same data, settings and seed give the same
# model, so a second run (after a kill, or a rerun) reuses the version instead of registering
# a copy.
DIGEST_TAG = "training_digest"
OUTCOME_ARTIFACT = "outcome.json"


def training_digest(books: Sequence[BookFeatures], config: PageStreamConfig, seed: int) -> str:
    """sha256 of the training inputs: settings, seed, and every book's ids, labels and
    feature arrays, in book order."""
    digest = hashlib.sha256(
        json.dumps({"config": dataclasses.asdict(config), "seed": seed}, sort_keys=True).encode()
    )
    for book in sorted(books, key=lambda b: b.book_id):
        digest.update(json.dumps([book.book_id, book.page_ids, book.labels, book.group]).encode())
        for array in (book.scalars, book.vision, book.text):
            if array is not None:
                digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def book_labels(
    books: pl.DataFrame, cosmo: Mapping[str, Sequence[str | None]] | None = None
) -> dict[str, list[str | None]]:
    """``book_id`` -> page labels (by page index) for the books of a ``books`` table that have
    labels: from ``cosmo`` (a parsed split file), a ``.truth.json`` beside the book file, or
    the book's ComicInfo page types."""
    out = comicinfo_book_labels(books)
    for row in books.select("book_id", "path").iter_rows(named=True):
        book_id = str(row["book_id"])
        if cosmo and book_id in cosmo:
            out[book_id] = [normalise_page_class(label) for label in cosmo[book_id]]
            continue
        truth = Path(str(row["path"]) + TRUTH_SUFFIX) if row["path"] else None
        if truth is not None and truth.is_file():
            pages = json.loads(truth.read_text())["pages"]
            labels: list[str | None] = [None] * (
                1 + max((p["page_index"] for p in pages), default=-1)
            )
            for page in pages:
                labels[page["page_index"]] = normalise_page_class(page["page_type"])
            out[book_id] = labels
    return out


def comicinfo_book_labels(books: pl.DataFrame) -> dict[str, list[str | None]]:
    """``book_id`` -> page labels from the ComicInfo page types of the books that have any."""
    if "declared_pages" not in books.columns:  # a books table from before they were read
        return {}
    out: dict[str, list[str | None]] = {}
    for row in books.select("book_id", "declared_pages").iter_rows(named=True):
        labels = comicinfo_labels(row["declared_pages"])
        if any(label is not None for label in labels):
            out[str(row["book_id"])] = labels
    return out


def attach_labels(
    rows: list[dict[str, Any]], labels: Mapping[str, Sequence[str | None]]
) -> list[dict[str, Any]]:
    """``rows`` with ``label`` set from ``labels`` (None where a book or page has none)."""
    for row in rows:
        book = labels.get(str(row["book_id"]))
        index = int(row["page_index"])
        row["label"] = book[index] if book is not None and index < len(book) else None
    return rows


def packed_inputs(book: BookFeatures) -> np.ndarray:
    """(1, n, Dv + Dt + S) float32: the exported model's one input (MLflow's ``pt2`` format
    takes a single tensor), each page's vision, text and scalar features side by side."""
    assert book.vision is not None and book.text is not None
    return np.concatenate([book.vision, book.text, book.scalars], axis=-1)[None].astype(np.float32)


def sequence_classifier(model: Any) -> Any:
    """``model`` wrapped to map ``packed_inputs`` to (B, n, classes) logits."""
    import torch

    config = model.config
    cuts = np.cumsum([config.vision_dim, config.text_dim]).tolist()

    class SequenceClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, packed: torch.Tensor) -> torch.Tensor:
            vision, text, scalars = torch.tensor_split(packed, cuts, dim=-1)
            mask = torch.ones(packed.shape[:2], dtype=torch.bool, device=packed.device)
            return self.inner(vision, text, scalars, mask)

    return SequenceClassifier().eval()


def _flat(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    flat = {f"{prefix}{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    for name, value in (metrics.get("per_class") or {}).items():
        f1 = value.get("f1") if isinstance(value, Mapping) else value
        if f1 is not None:
            flat[f"{prefix}f1_{name}"] = float(f1)
    return flat


@dataclass
class PageStreamOutcome:
    version: ModelVersionInfo
    model_metrics: dict[str, Any]
    rule_metrics: dict[str, Any]
    majority_accuracy: float
    passed_gate: bool
    gate_reasons: list[str]
    promoted: bool
    promotion_reason: str
    champion_version: int | None
    epochs: int
    seconds_per_epoch: float
    train_books: int
    val_books: int
    run_url: str
    model_version_url: str


def gate(
    model: Mapping[str, Any], rules: Mapping[str, Any], majority_accuracy: float
) -> tuple[bool, list[str]]:
    reasons = []
    if not model["macro_f1"] >= rules["macro_f1"]:
        reasons.append(
            f"macro-F1 {model['macro_f1']:.3f} is below the rule-based fallback's "
            f"{rules['macro_f1']:.3f}"
        )
    if not model["accuracy"] > majority_accuracy:
        reasons.append(
            f"accuracy {model['accuracy']:.3f} does not beat the majority class "
            f"({majority_accuracy:.3f})"
        )
    return not reasons, reasons


def train_and_register(
    books: Sequence[BookFeatures],
    config: PageStreamConfig,
    tracker: Tracker,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> PageStreamOutcome:
    """Train on labelled, encoded ``books``; evaluate model and rules; register; gate.

    When a finished run already registered a version from the same inputs
    (``training_digest``), that version is returned and nothing is trained or registered.
    """
    from comix_resources.page_stream.inference import PageStreamPredictor, predict_books
    from comix_resources.page_stream.metrics import evaluate_books
    from comix_resources.page_stream.rules import RulePredictor
    from comix_resources.page_stream.train import train

    digest = training_digest(books, config, seed)
    existing = tracker.finished_version_with_tag(MODEL_NAME, DIGEST_TAG, digest)
    if existing is not None:
        return _reused(tracker, existing)
    with tracker.start_run(run_name=f"{MODEL_NAME} seed {seed}", tags=tags or {}) as run_id:
        tracker.log_params({**dataclasses.asdict(config), "seed": seed, "books": len(books)})

        result = train(books, config, seed=seed, on_epoch=tracker.epoch_logger(on_epoch))
        model = result.model()
        held_out = [b for b in books if b.book_id in set(result.val_books)]
        scores = {}
        for name, predictor in (("model", PageStreamPredictor(model)), ("rules", RulePredictor())):
            predictions = predict_books(predictor, held_out)
            scores[name] = evaluate_books(
                [(b.labels, p.labels) for b, p in zip(held_out, predictions, strict=True)]
            )
        truth = [label for b in held_out for label in b.labels if label is not None]
        majority = Counter(truth).most_common(1)[0][1] / len(truth) if truth else float("nan")
        passed, reasons = gate(scores["model"], scores["rules"], majority)
        tracker.log_metrics(
            {
                **_flat("val_", scores["model"]),
                **_flat("rules_", scores["rules"]),
                "majority_accuracy": majority,
                "passed_gate": float(passed),
            }
        )
        example = next(b for b in books if len(b) > 1)
        version = tracker.log_torch_model(
            sequence_classifier(model),
            name="model",
            input_example=np.repeat(packed_inputs(example), 2, axis=0),
            pip_requirements=[f"{p}=={metadata.version(p)}" for p in ("torch", "numpy", "mlflow")],
            description=(
                f"Page stream segmentation (CoSMo-style transformer over a book's pages). "
                f"Held-out macro-F1 {scores['model']['macro_f1']:.3f} (rules "
                f"{scores['rules']['macro_f1']:.3f}), PQ {scores['model']['pq']:.3f}; gate "
                f"{'passed' if passed else 'FAILED'}."
            ),
            registered_model_name=MODEL_NAME,
        )
        tracker.log_folder(PageStreamPredictor(model).save, PREDICTOR_ARTIFACT)
        promoted, why = tracker.gate_version(
            MODEL_NAME, version.version, passed, reasons, CHAMPION_METRIC
        )
        tracker.log_json(
            {
                "model_metrics": scores["model"],
                "rule_metrics": scores["rules"],
                "majority_accuracy": majority,
                "passed_gate": passed,
                "gate_reasons": reasons,
                "epochs": len(result.history),
                "seconds_per_epoch": result.seconds_per_epoch,
                "train_books": len(result.train_books),
                "val_books": len(result.val_books),
            },
            OUTCOME_ARTIFACT,
        )
        # Tagged last: a run killed before this point leaves a version nobody reuses.
        tracker.set_version_tag(MODEL_NAME, version.version, DIGEST_TAG, digest)
    return PageStreamOutcome(
        version=version,
        model_metrics=scores["model"],
        rule_metrics=scores["rules"],
        majority_accuracy=majority,
        passed_gate=passed,
        gate_reasons=reasons,
        promoted=promoted,
        promotion_reason=why,
        champion_version=tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS),
        epochs=len(result.history),
        seconds_per_epoch=result.seconds_per_epoch,
        train_books=len(result.train_books),
        val_books=len(result.val_books),
        run_url=tracker.run_url(run_id),
        model_version_url=tracker.model_version_url(MODEL_NAME, version.version),
    )


def _reused(tracker: Tracker, version: int) -> PageStreamOutcome:
    """The outcome of an existing version, as its run recorded it."""
    model_version = tracker.client.get_model_version(MODEL_NAME, str(version))
    recorded = tracker.load_json(model_version.run_id, OUTCOME_ARTIFACT)
    return PageStreamOutcome(
        version=ModelVersionInfo(
            MODEL_NAME, version, model_version.run_id, f"models:/{MODEL_NAME}/{version}"
        ),
        promoted=False,
        promotion_reason=f"same training data as version {version}: reused, not registered again",
        champion_version=tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS),
        run_url=tracker.run_url(model_version.run_id),
        model_version_url=tracker.model_version_url(MODEL_NAME, version),
        **recorded,
    )


def load_champion(tracker: Tracker) -> tuple[Any, int] | None:
    """``(PageStreamPredictor, version)`` of the ``champion``, or None when there is none."""
    from comix_resources.page_stream.inference import PageStreamPredictor

    version = tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS)
    if version is None:
        return None
    predictor = tracker.load_version_folder(
        MODEL_NAME, version, PREDICTOR_ARTIFACT, PageStreamPredictor.load
    )
    return predictor, version


def version_gate(tracker: Tracker, version: int | None = None) -> GateVerdict:
    """The gate of ``page-stream`` version ``version`` (default: the newest), from the
    held-out scores its run logged (the model's ``val_*``, the rules' ``rules_*``)."""
    version = version or tracker.latest_version(MODEL_NAME)
    if version is None:
        raise LookupError(f"{MODEL_NAME} has no registered version: materialize page_stream")
    logged = tracker.version_metrics(MODEL_NAME, version)
    model = {k.removeprefix("val_"): v for k, v in logged.items() if k.startswith("val_")}
    rules = {k.removeprefix("rules_"): v for k, v in logged.items() if k.startswith("rules_")}
    nan = float("nan")
    passed, reasons = gate(
        {"macro_f1": model.get("macro_f1", nan), "accuracy": model.get("accuracy", nan)},
        {"macro_f1": rules.get("macro_f1", nan)},
        logged.get("majority_accuracy", nan),
    )
    return GateVerdict(
        model_name=MODEL_NAME,
        version=int(version),
        passed=passed,
        reasons=reasons,
        metrics={**{f"model_{k}": v for k, v in model.items()}, **logged},
        champion_version=tracker.champion_version(MODEL_NAME, CHAMPION_ALIAS),
        model_version_url=tracker.model_version_url(MODEL_NAME, version),
    )
