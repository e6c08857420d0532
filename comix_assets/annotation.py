"""Per-source annotation assets: panels, page text, the DataSpec join and page quality."""

import dagster as dg
import polars as pl

from comix_assets.checks import check_spec, suite_check_result
from comix_assets.common import OWNERS, SOURCE_TITLES
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.dataspec import coco_to_dataspec
from comix_resources.detection.table import detect_pages_costed
from comix_resources.expectations import (
    dataspec_rates_suite,
    dataspec_schema_suite,
    page_quality_suite,
    panels_schema_suite,
)
from comix_resources.lake import Lake
from comix_resources.previews import (
    markdown_image,
    markdown_table,
    panels_overlay_png,
    thumbnail_grid_png,
)
from comix_resources.quality.table import mostly_non_comic_books, page_quality_table
from comix_resources.resources import (
    DataQualityResource,
    LakeResource,
    PageTextResource,
    PanelDetectorResource,
)
from comix_resources.text.table import extract_page_text

PREVIEW_PAGES = 4
OVERLAY_SIDE = 360
PANELS_SCHEMA = "panels_schema"
DATASPEC_SCHEMA = "dataspec_schema"
PANEL_AGREEMENT = "panel_count_agreement"
ALIGNED_RATE = "aligned_page_rate"
QUALITY_SCHEMA = "page_quality_schema"
NON_COMIC_FRACTION = "non_comic_fraction"


def _read(lake: Lake, source: str, key: str, table: str) -> pl.DataFrame:
    return lake.read_parquet(lake.partition_path(source, key, f"{table}.parquet"))


def _read_optional(lake: Lake, source: str, key: str, table: str) -> pl.DataFrame | None:
    path = lake.partition_path(source, key, f"{table}.parquet")
    return lake.read_parquet(path) if lake.exists(path) else None


def _overlay_preview(lake: Lake, pages: pl.DataFrame, panels: pl.DataFrame) -> str:
    """A few pages with the most panels, outlined and numbered in reading order."""
    counts = (
        panels.filter(pl.col("category") == "panel")
        .group_by("page_id")
        .len()
        .sort(["len", "page_id"], descending=[True, False])
        .head(PREVIEW_PAGES)
    )
    paths = dict(zip(pages["page_id"], pages["path"], strict=True))
    overlays = []
    for page_id in counts["page_id"]:
        boxes = (
            panels.filter((pl.col("page_id") == page_id) & (pl.col("category") == "panel"))
            .sort("order")["bbox"]
            .to_list()
        )
        overlays.append(
            panels_overlay_png(lake.read_bytes(lake.path(paths[page_id])), boxes, OVERLAY_SIDE)
        )
    images = [overlay for overlay in overlays if overlay is not None]
    return markdown_image(
        thumbnail_grid_png(images, columns=PREVIEW_PAGES, thumb_height=OVERLAY_SIDE),
        "panels in reading order",
    )


def build_annotation_assets(source: str) -> list[dg.AssetsDefinition]:
    partitions = COLLECTION_PARTITIONS[source]
    title = SOURCE_TITLES[source]
    pages_key = dg.AssetKey([source, "pages"])
    panels_key = dg.AssetKey([source, "panels"])
    text_key = dg.AssetKey([source, "page_text"])
    dataspec_key = dg.AssetKey([source, "dataspec"])
    quality_key = dg.AssetKey([source, "page_quality"])
    common = {"partitions_def": partitions, "group_name": source, "owners": OWNERS}

    @dg.asset(
        key=panels_key,
        deps=[pages_key],
        kinds={"python", "opencv", "parquet"},
        description=f"Panels of every page of a {title} collection, in reading order (right to "
        "left for collections listed as manga), from the configured detector (`contour` by "
        "default; `fasterrcnn` with a CoMix checkpoint also finds characters, text and faces). "
        f"Lake: `{source}/<collection>/panels.parquet` and `panels.coco.json` (COCO, CoMix "
        "category ids).",
        check_specs=[
            check_spec(
                PANELS_SCHEMA,
                panels_key,
                partitions,
                "Great Expectations suite: ids non-null, known categories, boxes of positive "
                "size inside their page, panel orders contiguous 0..n-1 per page.",
                blocking=True,
            )
        ],
        **common,
    )
    def panels(
        context: dg.AssetExecutionContext, lake: LakeResource, detection: PanelDetectorResource
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        pages_table = _read(store, source, key, "pages")
        detector = detection.build()
        table, coco, failures, cost = detect_pages_costed(
            store, pages_table, detector, rtl=detection.is_rtl(key)
        )
        store.write_parquet(store.partition_path(source, key, "panels.parquet"), table)
        store.write_json(store.partition_path(source, key, "panels.coco.json"), coco)
        panel_rows = table.filter(pl.col("category") == "panel")
        per_page = panel_rows.group_by("page_id").len()["len"]
        whole_pages = sum(image["whole_page"] for image in coco["images"])
        schema = panels_schema_suite(table, pages_table).validate()
        return dg.MaterializeResult(
            check_results=[
                suite_check_result(PANELS_SCHEMA, panels_key, schema, store, pages_table)
            ],
            metadata={
                "pages": len(coco["images"]),
                "panels": panel_rows.height,
                "regions": table.height,
                "panels_per_page_mean": dg.MetadataValue.float(
                    round(float(per_page.mean() or 0), 2)
                ),
                "whole_page_fallbacks": whole_pages,
                "workers": dg.MetadataValue.json(cost.as_metadata()),
                "failed_pages": len(failures),
                "failures": dg.MetadataValue.json(failures),
                "detector": detector.name,
                "reading_direction": "rtl" if detection.is_rtl(key) else "ltr",
                "preview": dg.MetadataValue.md(_overlay_preview(store, pages_table, table)),
                "path": dg.MetadataValue.path(
                    store.url(store.partition_path(source, key, "panels.parquet"))
                ),
            },
        )

    @dg.asset(
        key=text_key,
        deps=[pages_key, panels_key],
        kinds={"python", "onnx", "parquet"},
        description=f"Text of every page of a {title} collection through the engine cascade "
        "(RapidOCR offline by default; OpenAI-compatible VLM endpoints and local transformers "
        "VLMs when configured): balloons, captions and sound effects with boxes, each page "
        "with the engine and model used, attempts, errors seen, latency, tokens and cost. "
        "Pages whose bytes and cascade are unchanged keep their row (nothing is paid twice). "
        "A triage before the cascade (image features, panel layout, the OCR's detected lines) "
        "spares pages that are surely not comics the VLM and OCR recognition, with the reason "
        "in the row; pages are decoded once, on every core (`COMIX_WORKERS`). "
        f"Lake: `{source}/<collection>/page_text.parquet`.",
        **common,
    )
    def page_text(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text: PageTextResource,
        data_quality: DataQualityResource,
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        path = store.partition_path(source, key, "page_text.parquet")
        previous = store.read_parquet(path) if store.exists(path) else None
        table, summary = extract_page_text(
            store,
            _read(store, source, key, "pages"),
            text.build(),
            previous,
            panels=_read_optional(store, source, key, "panels"),
            thresholds=data_quality.thresholds(),
            workers=text.workers or None,
        )
        store.write_parquet(path, table)
        return dg.MaterializeResult(
            metadata={
                "pages": table.height,
                "ok": table.filter(pl.col("status") == "ok").height,
                "failed": table.filter(pl.col("status") != "ok").height,
                "reused": summary["reused"],
                "triage": dg.MetadataValue.json(summary["triage"]),
                "skipped_by_triage": summary["skipped"],
                "workers": dg.MetadataValue.json(summary["workers"]),
                "text_items": int(table["items"].list.len().sum()),
                "cost_usd": dg.MetadataValue.float(float(summary["cost_usd"])),
                "engines": dg.MetadataValue.json(summary["engines"]),
                "engine_counts": dg.MetadataValue.md(
                    markdown_table(
                        pl.DataFrame(
                            [
                                {"engine": name, **counts}
                                for name, counts in summary["engines"].items()
                            ]
                        )
                    )
                    if summary["engines"]
                    else "_no engine calls: every page reused_"
                ),
                "path": dg.MetadataValue.path(store.url(path)),
            }
        )

    @dg.asset(
        key=dataspec_key,
        deps=[pages_key, panels_key, text_key, [source, "page_types"]],
        kinds={"python", "polars", "parquet"},
        description=f"The DataSpec record of every page of a {title} collection: panels in "
        "reading order with their dialogue, narration and sound effects, characters and "
        "faces, and the alignment of text to panels (by geometry when text has boxes, by VLM "
        "panel IoU or by count otherwise) with the original quality score. "
        f"Lake: `{source}/<collection>/dataspec.parquet`.",
        check_specs=[
            check_spec(
                DATASPEC_SCHEMA,
                dataspec_key,
                partitions,
                "Great Expectations suite: page ids unique, counts consistent, quality score "
                "0..4, known alignment methods, panels inside the page.",
                blocking=True,
            ),
            check_spec(
                PANEL_AGREEMENT,
                dataspec_key,
                partitions,
                "Share of pages where the text source and the detector agree on the panel "
                "count (perfect match, or ratio within 0.9-1.1); WARN below the threshold.",
            ),
            check_spec(
                ALIGNED_RATE,
                dataspec_key,
                partitions,
                "Share of pages whose text-to-panel alignment is trusted; ERROR below the "
                "threshold, since training keeps only aligned pages.",
                blocking=True,
            ),
        ],
        **common,
    )
    def dataspec(
        context: dg.AssetExecutionContext, lake: LakeResource, data_quality: DataQualityResource
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        pages_table = _read(store, source, key, "pages")
        table = coco_to_dataspec(
            pages_table,
            _read(store, source, key, "panels"),
            _read(store, source, key, "page_text"),
            source,
            key,
            page_types=_read_optional(store, source, key, "page_types"),
        )
        path = store.partition_path(source, key, "dataspec.parquet")
        store.write_parquet(path, table)
        total = max(table.height, 1)
        methods = dict(
            table.group_by("alignment_method").len().sort("alignment_method").iter_rows()
        )
        schema = dataspec_schema_suite(table).validate()
        agreement = dataspec_rates_suite(
            table, min_agreement_rate=data_quality.min_panel_agreement_rate
        ).validate()
        aligned = dataspec_rates_suite(
            table, min_aligned_rate=data_quality.min_aligned_rate
        ).validate()
        return dg.MaterializeResult(
            check_results=[
                suite_check_result(DATASPEC_SCHEMA, dataspec_key, schema, store, pages_table),
                suite_check_result(
                    PANEL_AGREEMENT,
                    dataspec_key,
                    agreement,
                    store,
                    pages_table,
                    dg.AssetCheckSeverity.WARN,
                ),
                suite_check_result(ALIGNED_RATE, dataspec_key, aligned, store, pages_table),
            ],
            metadata={
                "pages": table.height,
                "aligned_rate": dg.MetadataValue.float(round(table["is_aligned"].sum() / total, 4)),
                "perfect_match_rate": dg.MetadataValue.float(
                    round(table["is_perfect_match"].sum() / total, 4)
                ),
                "texts": int(table["n_texts"].sum()),
                "texts_assigned": int(table["n_texts_assigned"].sum()),
                "alignment_methods": dg.MetadataValue.json(methods),
                "quality_scores": dg.MetadataValue.json(
                    {
                        str(k): v
                        for k, v in table.group_by("quality_score")
                        .len()
                        .sort("quality_score")
                        .iter_rows()
                    }
                ),
                "path": dg.MetadataValue.path(store.url(path)),
            },
        )

    @dg.asset(
        key=quality_key,
        deps=[pages_key, panels_key, text_key],
        kinds={"python", "opencv", "parquet"},
        description=f"Image features of every page of a {title} collection (brightness, ink, "
        "edges, text area from OCR, panel count, aspect and orientation) and the non-comic "
        "verdict with a reason per flag: `text_page`, `blank`, `very_dark` (non-comic) and "
        f"`spread`. Lake: `{source}/<collection>/page_quality.parquet`.",
        check_specs=[
            check_spec(
                QUALITY_SCHEMA,
                quality_key,
                partitions,
                "Great Expectations suite: one verdict per page, features within 0..1.",
                blocking=True,
            ),
            check_spec(
                NON_COMIC_FRACTION,
                quality_key,
                partitions,
                "Share of pages judged non-comic (book text, blank, very dark); WARN above "
                "the threshold: the collection may hold something other than comics.",
            ),
        ],
        **common,
    )
    def page_quality(
        context: dg.AssetExecutionContext, lake: LakeResource, data_quality: DataQualityResource
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        pages_table = _read(store, source, key, "pages")
        table = page_quality_table(
            store,
            pages_table,
            _read(store, source, key, "panels"),
            _read(store, source, key, "page_text"),
            data_quality.thresholds(),
        )
        non_comic_books = mostly_non_comic_books(table, pages_table)
        path = store.partition_path(source, key, "page_quality.parquet")
        store.write_parquet(path, table)
        flagged = table.filter(pl.col("flags").list.len() > 0)
        flag_counts = dict(
            table.select(pl.col("flags").explode().drop_nulls())
            .group_by("flags")
            .len()
            .sort("flags")
            .iter_rows()
        )
        schema = page_quality_suite(table).validate()
        non_comic = page_quality_suite(
            table, max_non_comic_fraction=data_quality.max_non_comic_fraction
        ).validate()
        return dg.MaterializeResult(
            check_results=[
                suite_check_result(QUALITY_SCHEMA, quality_key, schema, store, pages_table),
                suite_check_result(
                    NON_COMIC_FRACTION,
                    quality_key,
                    non_comic,
                    store,
                    pages_table,
                    dg.AssetCheckSeverity.WARN,
                ),
            ],
            metadata={
                "pages": table.height,
                "non_comic": table.filter(~pl.col("is_comic")).height,
                "flags": dg.MetadataValue.json(flag_counts),
                "mostly_non_comic_books": len(non_comic_books),
                "non_comic_books": dg.MetadataValue.md(markdown_table(non_comic_books)),
                "flagged_pages": dg.MetadataValue.md(
                    markdown_table(flagged.select("page_id", "is_comic", "flags", "reasons"))
                ),
                "path": dg.MetadataValue.path(store.url(path)),
            },
        )

    return [panels, page_text, dataspec, page_quality]
