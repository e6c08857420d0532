"""The Closure Lite model: one partition per variant, trained on ``training_pages``."""

import dagster as dg
import polars as pl

from comix_assets.checks import build_gate_check
from comix_assets.common import OWNERS
from comix_resources.closure_lite.config import VARIANTS
from comix_resources.closure_lite.registry import model_name, train_and_register, version_gate
from comix_resources.previews import markdown_table
from comix_resources.resources import ClosureLiteResource, LakeResource, MlflowResource
from comix_resources.stack.placement import GPU_POOL, GPU_STEP_TAGS
from comix_resources.tables import TRAINING_PAGES, MissingTableError

VARIANT_PARTITIONS = dg.StaticPartitionsDefinition(list(VARIANTS))
EVALUATION_GATE = "evaluation_gate"
# (metric, what it is compared with) rows of the metadata table.
REPORTED = (
    ("next_panel_accuracy", "next_panel_baseline", "geometric reading order (XY cuts)"),
    ("next_panel_accuracy", "next_panel_chance", "chance"),
    ("closure_accuracy", "closure_chance", "chance (1 of 5 same-book candidates)"),
    ("closure_accuracy", "closure_baseline", "frozen encoders, untrained (mean of the page)"),
    ("retrieval_recall_at_10", "retrieval_chance", "chance (random ranking)"),
    ("retrieval_recall_at_10", "retrieval_baseline", "frozen encoders, untrained (panel mean)"),
)


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = [
        {
            "metric": name,
            "value": round(metrics.get(name, float("nan")), 4),
            "compared with": label,
            "reference": round(metrics.get(reference, float("nan")), 4),
        }
        for name, reference, label in REPORTED
    ]
    return markdown_table(pl.DataFrame(rows))


@dg.asset(
    key="closure_lite",
    deps=["training_pages"],
    partitions_def=VARIANT_PARTITIONS,
    group_name="model",
    kinds={"pytorch", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,  # the `gpu` Celery queue
    owners=OWNERS,
    description="Closure Lite, the multimodal panel/page fusion model (384-d), one partition "
    "per variant (base, denoise, context, context-denoise): backfill all four for the "
    "ablation. Trains on the books of `training_pages` with a book-level split, fixed seed and "
    "early stopping on the held-out masked-panel loss; logs params, "
    "per-epoch losses and validation metrics to MLflow and registers a version of "
    "`closure-lite-<variant>`. The `champion` alias moves only when the blocking "
    "evaluation check passes and the version beats the champion's same-book "
    "retrieval recall@10.",
)
def closure_lite(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    model: ClosureLiteResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    variant = context.partition_key
    store = lake.lake()
    try:
        table = TRAINING_PAGES.read(store)
    except MissingTableError as error:
        raise dg.Failure(str(error)) from error
    context.log.info(f"encoding {table.height} training pages (cached encoder outputs reused)")
    features = model.encode(store, table)

    def on_epoch(epoch: int, values: dict[str, float]) -> None:
        context.log.info(
            f"{variant} epoch {epoch}: train {values['train_total']:.4f}, "
            f"val {values['val_total']:.4f} ({values['seconds_per_epoch']:.2f} s)"
        )

    try:
        config = model.config(variant)
    except ValueError as error:
        raise dg.Failure(str(error)) from error
    if config.finetune_vision:
        context.log.info(f"fine-tuning the vision encoder on panel crops ({model.device})")
    outcome = train_and_register(
        features,
        config,
        mlflow.tracker(),
        seed=model.seed,
        tags={"dagster_run_id": context.run.run_id},
        on_epoch=on_epoch,
        crops=model.crops(store, table),
        device=model.device,
    )
    metrics = outcome.metrics
    links = {
        "mlflow_run": dg.MetadataValue.url(outcome.run_url),
        "model_version": dg.MetadataValue.url(outcome.model_version_url),
    }
    return dg.MaterializeResult(
        metadata={
            "model": model_name(variant),
            "version": outcome.version.version,
            "model_uri": outcome.version.model_uri,
            **links,
            "champion_version": outcome.champion_version,
            "promotion": outcome.promotion_reason,
            "evaluation": dg.MetadataValue.md(_metrics_table(metrics)),
            **{f"val_{k}": float(v) for k, v in sorted(metrics.items())},
            "finetune_vision": config.finetune_vision,
            "epochs": outcome.epochs,
            "best_epoch": outcome.best_epoch,
            "seconds_per_epoch": round(outcome.seconds_per_epoch, 3),
            "train_pages": outcome.train_pages,
            "val_pages": outcome.val_pages,
            "train_books": outcome.train_books,
            "val_books": outcome.val_books,
        },
    )


evaluation_gate = build_gate_check(
    "closure_lite",
    EVALUATION_GATE,
    "Held-out books: next-panel accuracy, closure accuracy and same-book recall@10 must each "
    "beat chance by 0.05; closure accuracy and recall@10 must be at least those of the frozen "
    "encoders without training (a masked panel guessed as the mean of its page's other "
    "panels, a page as the mean of its panels), so the model knows something its encoders "
    "did not; next-panel accuracy must stay within 0.15 of the geometric reading-order "
    "baseline. Read from the metrics the variant's newest version logged. A failing version "
    "is registered but never becomes champion, and the embeddings do not use it.",
    lambda context, mlflow: version_gate(mlflow.tracker(), context.partition_key),
    lambda verdict: _metrics_table(verdict.metrics),
    "beats chance and the frozen encoders, and reads order within 0.15 of the geometric baseline",
    partitions=VARIANT_PARTITIONS,
)
