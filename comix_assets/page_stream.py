"""Page stream segmentation: the page-stream model and the page types of every collection."""

import dagster as dg
import polars as pl

from comix_assets.checks import build_gate_check
from comix_assets.common import OWNERS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.lake import Lake
from comix_resources.page_stream import (
    RulePredictor,
    book_features,
    comicinfo_agreement,
    evaluate_books,
    page_rows,
    page_types_table,
    predict_books,
    segments_table,
)
from comix_resources.page_stream.registry import (
    CHAMPION_METRIC,
    EXPERIMENT,
    MODEL_NAME,
    attach_labels,
    book_labels,
    comicinfo_book_labels,
    load_champion,
    train_and_register,
    version_gate,
)
from comix_resources.previews import markdown_table
from comix_resources.resources import LakeResource, MlflowResource, PageStreamResource
from comix_resources.sources.registry import SOURCES, source_spec
from comix_resources.stack.placement import GPU_POOL, GPU_STEP_TAGS
from comix_resources.tables import BOOKS, PAGE_QUALITY, PAGE_TEXT, PAGE_TYPES, PAGES
from comix_resources.tracking import GateVerdict

PAGE_STREAM_GATE = "page_stream_gate"
INPUT_TABLES = (BOOKS, PAGES, PAGE_TEXT, PAGE_QUALITY)


def _partition_rows(
    lake: Lake, source: str, key: str, labels_file: dict | None
) -> list[dict] | None:
    """Page rows of one partition with labels attached; None if it is not materialized."""
    books = BOOKS.read_if_exists(lake, source, key)
    pages = PAGES.read_if_exists(lake, source, key)
    if books is None or pages is None:
        return None
    rows = page_rows(
        pages,
        PAGE_TEXT.read_if_exists(lake, source, key),
        PAGE_QUALITY.read_if_exists(lake, source, key),
    )
    return attach_labels(rows, book_labels(books, labels_file))


def _scores_table(model: dict, rules: dict) -> str:
    names = ["accuracy", "macro_f1", "pq", "sq", "rq", "mndd"]
    rows = [{"metric": n, "model": round(model[n], 4), "rules": round(rules[n], 4)} for n in names]
    rows += [
        {
            "metric": f"F1 {cls}",
            "model": round(model["per_class"][cls]["f1"], 4),
            "rules": round(rules["per_class"][cls]["f1"], 4),
        }
        for cls, value in model["per_class"].items()
        if value["support"]
    ]
    return markdown_table(pl.DataFrame(rows), limit=30)


@dg.asset(
    key="page_stream",
    deps=[
        dg.AssetDep([source, table.name], partition_mapping=dg.AllPartitionMapping())
        for source in SOURCES
        for table in INPUT_TABLES
    ],
    group_name="model",
    kinds={"pytorch", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,  # the `gpu` Celery queue
    owners=OWNERS,
    description="The page-stream model (CoSMo-style): each page's EfficientNet-Lite0 image "
    "vector and MiniLM OCR-text vector, interleaved as two tokens per page with position and "
    "layout scalars, through a small transformer over the book's page sequence; 9 classes. "
    "Trained on every book with labels (a `.truth.json` beside the book, the CoSMo split "
    "file in COMIX_PAGE_TYPE_LABELS, or the page types of the book's ComicInfo.xml), split by "
    "book; the model and the rule-based fallback are "
    "scored on the same held-out books (per-class F1, macro-F1, accuracy, PQ/SQ/RQ, MnDD) and "
    "logged to MLflow; registers a version of `page-stream`.",
)
def page_stream(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    page_stream_model: PageStreamResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    store = lake.lake()
    labels_file = page_stream_model.labels()
    rows = []
    for source in SOURCES:
        for key in context.instance.get_dynamic_partitions(COLLECTION_PARTITIONS[source].name):
            rows += _partition_rows(store, source, key, labels_file) or []
    labelled_books = {r["book_id"] for r in rows if r["label"] is not None}
    rows = [r for r in rows if r["book_id"] in labelled_books]
    if len(labelled_books) < 2:
        raise dg.Failure(
            f"{len(labelled_books)} labelled book(s): page-stream training needs two or more "
            "(a .truth.json beside a book, COMIX_PAGE_TYPE_LABELS, or ComicInfo page types)"
        )
    context.log.info(f"encoding {len(rows)} pages of {len(labelled_books)} labelled books")
    books = page_stream_model.encode(store, rows)
    outcome = train_and_register(
        books,
        page_stream_model.config(),
        mlflow.tracker(EXPERIMENT),
        seed=page_stream_model.seed,
        tags={"dagster_run_id": context.run.run_id},
    )
    model, rules = outcome.model_metrics, outcome.rule_metrics
    scores = dg.MetadataValue.md(_scores_table(model, rules))
    version_link = dg.MetadataValue.url(outcome.model_version_url)
    return dg.MaterializeResult(
        metadata={
            "model": MODEL_NAME,
            "version": outcome.version.version,
            "mlflow_run": dg.MetadataValue.url(outcome.run_url),
            "model_version": version_link,
            "champion_version": outcome.champion_version,
            "promotion": outcome.promotion_reason,
            "held_out_scores": scores,
            CHAMPION_METRIC: float(model["macro_f1"]),
            "val_accuracy": float(model["accuracy"]),
            "val_pq": float(model["pq"]),
            "rules_macro_f1": float(rules["macro_f1"]),
            "labelled_books": len(labelled_books),
            "train_books": outcome.train_books,
            "val_books": outcome.val_books,
            "epochs": outcome.epochs,
            "seconds_per_epoch": round(outcome.seconds_per_epoch, 3),
        },
    )


def build_page_types_asset(source: str) -> dg.AssetsDefinition:
    key = [source, "page_types"]

    @dg.asset(
        key=key,
        deps=[*([source, table.name] for table in INPUT_TABLES), "page_stream"],
        partitions_def=COLLECTION_PARTITIONS[source],
        group_name=source,
        kinds={"pytorch", "parquet"},
        owners=OWNERS,
        description=f"The type of every page of a {source_spec(source).title} collection (cover, "
        "credits, first-page, story, advertisement, textstory, art, back_cover, non_comic) with "
        "its probability, and story segments per book (start page, end page, type). Uses the "
        "`champion` of the `page-stream` model when there is one, else the rule-based fallback "
        "(position in the book, panels, text and the non-comic verdict). Where books have "
        "labels, the metadata scores the predictions against them, and against the page "
        "types of the books' own ComicInfo.xml where they have some. "
        f"Lake: `{PAGE_TYPES.where(source)}`.",
    )
    def page_types(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        page_stream_model: PageStreamResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        store, partition = lake.lake(), context.partition_key
        rows = _partition_rows(store, source, partition, page_stream_model.labels()) or []
        champion = load_champion(mlflow.tracker(EXPERIMENT))
        if champion is not None:
            predictor, version = champion
            books = page_stream_model.encode(store, rows)
            method = f"{MODEL_NAME} v{version}"
        else:
            predictor, books, method = RulePredictor(), book_features(rows), "rules"
        predictions = predict_books(predictor, books)
        table = page_types_table(predictions)
        path = PAGE_TYPES.write(store, table, source, partition)
        segments = segments_table(predictions)
        counts = table.group_by("page_type").len().sort("len", descending=True)
        labelled = [(b.labels, p.labels) for b, p in zip(books, predictions, strict=True)]
        labelled = [(t, p) for t, p in labelled if any(label is not None for label in t)]
        scored = evaluate_books(labelled) if labelled else None
        books_table = BOOKS.read_if_exists(store, source, partition)
        declared = comicinfo_book_labels(books_table) if books_table is not None else {}
        versus_comicinfo = comicinfo_agreement(
            [
                (p.page_indices, p.labels, declared[p.book_id])
                for p in predictions
                if p.book_id in declared
            ]
        )
        return dg.MaterializeResult(
            metadata={
                "pages": table.height,
                "books": len(books),
                "segments": segments.height,
                "method": method,
                **{f"pages_{row[0]}": row[1] for row in counts.iter_rows()},
                "page_types": dg.MetadataValue.md(markdown_table(counts)),
                "story_segments": dg.MetadataValue.md(markdown_table(segments, limit=30)),
                **(
                    {
                        "labelled_books": len(labelled),
                        "accuracy_vs_labels": float(scored["accuracy"]),
                        "macro_f1_vs_labels": float(scored["macro_f1"]),
                        "pq_vs_labels": float(scored["pq"]),
                    }
                    if scored
                    else {}
                ),
                **(_comicinfo_metadata(versus_comicinfo) if versus_comicinfo else {}),
                "path": dg.MetadataValue.path(store.url(path)),
            }
        )

    return page_types


def _comicinfo_metadata(scores: dict) -> dict[str, object]:
    """Predictions against the page types the books' own ComicInfo.xml gives."""
    rows = [
        {"comicinfo_class": name, "pages": entry["pages"], "agreed": entry["agreed"]}
        for name, entry in scores["per_class"].items()
    ]
    return {
        "comicinfo_labelled_books": scores["books"],
        "comicinfo_labelled_pages": scores["pages"],
        "accuracy_vs_comicinfo": float(scores["accuracy"]),
        "agreement_with_comicinfo": dg.MetadataValue.md(markdown_table(pl.DataFrame(rows))),
    }


def _gate_report(verdict: GateVerdict) -> str:
    metrics = verdict.metrics
    rows = [
        {
            "metric": name,
            "model": round(metrics.get(f"val_{name}", float("nan")), 4),
            "rules": round(metrics.get(f"rules_{name}", float("nan")), 4),
        }
        for name in ("accuracy", "macro_f1", "pq", "sq", "rq", "mndd")
    ]
    rows.append(
        {
            "metric": "majority_accuracy",
            "model": round(metrics.get("majority_accuracy", 0), 4),
            "rules": None,
        }
    )
    return markdown_table(pl.DataFrame(rows))


page_stream_gate = build_gate_check(
    "page_stream",
    PAGE_STREAM_GATE,
    "Held-out macro-F1 at least the rule-based fallback's, and accuracy above always "
    "answering the most common class, from the scores the newest version's run logged. "
    "Only then may the version become `champion`, which `<source>/page_types` uses instead "
    "of the rules.",
    lambda context, mlflow: version_gate(mlflow.tracker(EXPERIMENT)),
    _gate_report,
    "at least as good as the rules, and better than the majority class",
)
