"""Per-source annotation assets: panels, page text, the DataSpec join and page quality."""

import dagster as dg
import polars as pl

from comix_assets.common import OWNERS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.books import declared_reading_directions
from comix_resources.dataspec import coco_to_dataspec
from comix_resources.detection.table import detect_pages_costed
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
from comix_resources.shards import collection_key
from comix_resources.sources.registry import source_spec
from comix_resources.stack.placement import OCR_POOL
from comix_resources.tables import (
    BOOKS,
    DATASPEC,
    PAGE_QUALITY,
    PAGE_TEXT,
    PAGES,
    PANELS,
    PANELS_COCO,
)
from comix_resources.text.table import extract_page_text

PREVIEW_PAGES = 4
OVERLAY_SIDE = 360


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


def build_annotation_assets(
    source: str, page_text_pool: str = OCR_POOL
) -> list[dg.AssetsDefinition]:
    partitions = COLLECTION_PARTITIONS[source]
    title = source_spec(source).title
    pages_key = dg.AssetKey([source, PAGES.name])
    panels_key = dg.AssetKey([source, PANELS.name])
    text_key = dg.AssetKey([source, PAGE_TEXT.name])
    common = {"partitions_def": partitions, "group_name": source, "owners": OWNERS}

    @dg.asset(
        key=panels_key,
        deps=[pages_key, [source, BOOKS.name]],
        kinds={"python", "opencv", "parquet"},
        description=f"Panels of every page of a {title} collection, in reading order (right to "
        "left for collections listed as manga and for books that declare it: an app "
        "download's `is_rtl`, ComicInfo `Manga`, an EPUB spine), from the configured detector "
        "(`contour` by default; `fasterrcnn` with a CoMix checkpoint also finds characters, "
        "text and faces). "
        f"Lake: `{PANELS.where(source)}` and `{PANELS_COCO.file}` (COCO, CoMix category ids).",
        **common,
    )
    def panels(
        context: dg.AssetExecutionContext, lake: LakeResource, detection: PanelDetectorResource
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        pages_table = PAGES.read(store, source, key)
        detector = detection.build()
        declared = declared_reading_directions(BOOKS.read(store, source, key))
        table, coco, failures, cost = detect_pages_costed(
            store, pages_table, detector, rtl=detection.is_rtl(key), rtl_books=declared
        )
        path = PANELS.write(store, table, source, key)
        store.write_json(PANELS_COCO.path(store, source, key), coco)
        panel_rows = table.filter(pl.col("category") == "panel")
        per_page = panel_rows.group_by("page_id").len()["len"]
        return dg.MaterializeResult(
            metadata={
                "pages": len(coco["images"]),
                "panels": panel_rows.height,
                "regions": table.height,
                "panels_per_page_mean": dg.MetadataValue.float(
                    round(float(per_page.mean() or 0), 2)
                ),
                "whole_page_fallbacks": sum(image["whole_page"] for image in coco["images"]),
                "workers": dg.MetadataValue.json(cost.as_metadata()),
                "failed_pages": len(failures),
                "failures": dg.MetadataValue.json(failures),
                "detector": detector.name,
                "reading_direction": "rtl" if detection.is_rtl(key) else "ltr",
                "books_declaring_rtl": sum(declared.values()),
                "books_declaring_ltr": len(declared) - sum(declared.values()),
                "preview": dg.MetadataValue.md(_overlay_preview(store, pages_table, table)),
                "path": dg.MetadataValue.path(store.url(path)),
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
        f"Lake: `{PAGE_TEXT.where(source)}`.",
        pool=page_text_pool,  # OCR cores, a VLM endpoint's rate, or the GPU of a local VLM
        **common,
    )
    def page_text(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text: PageTextResource,
        data_quality: DataQualityResource,
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        previous = PAGE_TEXT.read_if_exists(store, source, key)
        table, summary = extract_page_text(
            store,
            PAGES.read(store, source, key),
            text.build(),
            previous,
            panels=PANELS.read_if_exists(store, source, key),
            thresholds=data_quality.thresholds(),
            workers=text.workers or None,
        )
        path = PAGE_TEXT.write(store, table, source, key)
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
        key=[source, DATASPEC.name],
        deps=[pages_key, panels_key, text_key],
        kinds={"python", "polars", "parquet"},
        description=f"The DataSpec record of every page of a {title} collection: panels in "
        "reading order with their dialogue, narration and sound effects, characters and "
        "faces, and the alignment of text to panels (by geometry when text has boxes, by VLM "
        "panel IoU or by count otherwise) with the original quality score. Page types are "
        "joined where they are used (training, search, exports), so a collection never waits "
        f"for a corpus model. Lake: `{DATASPEC.where(source)}`.",
        **common,
    )
    def dataspec(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        table = coco_to_dataspec(
            PAGES.read(store, source, key),
            PANELS.read(store, source, key),
            PAGE_TEXT.read(store, source, key),
            source,
            collection_key(key),  # a shard's pages belong to its collection
        )
        path = DATASPEC.write(store, table, source, key)
        total = max(table.height, 1)
        methods = dict(
            table.group_by("alignment_method").len().sort("alignment_method").iter_rows()
        )
        scores = table.group_by("quality_score").len().sort("quality_score").iter_rows()
        return dg.MaterializeResult(
            metadata={
                "pages": table.height,
                "aligned_rate": dg.MetadataValue.float(round(table["is_aligned"].sum() / total, 4)),
                "perfect_match_rate": dg.MetadataValue.float(
                    round(table["is_perfect_match"].sum() / total, 4)
                ),
                "texts": int(table["n_texts"].sum()),
                "texts_assigned": int(table["n_texts_assigned"].sum()),
                "alignment_methods": dg.MetadataValue.json(methods),
                "quality_scores": dg.MetadataValue.json({str(k): v for k, v in scores}),
                "path": dg.MetadataValue.path(store.url(path)),
            },
        )

    @dg.asset(
        key=[source, PAGE_QUALITY.name],
        deps=[pages_key, panels_key, text_key],
        kinds={"python", "opencv", "parquet"},
        description=f"Image features of every page of a {title} collection (brightness, ink, "
        "edges, text area from OCR, panel count, aspect and orientation) and the non-comic "
        "verdict with a reason per flag: `text_page`, `blank`, `very_dark` (non-comic) and "
        f"`spread`. Lake: `{PAGE_QUALITY.where(source)}`.",
        **common,
    )
    def page_quality(
        context: dg.AssetExecutionContext, lake: LakeResource, data_quality: DataQualityResource
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        pages_table = PAGES.read(store, source, key)
        table = page_quality_table(
            store,
            pages_table,
            PANELS.read(store, source, key),
            PAGE_TEXT.read(store, source, key),
            data_quality.thresholds(),
        )
        non_comic_books = mostly_non_comic_books(table, pages_table)
        path = PAGE_QUALITY.write(store, table, source, key)
        flagged = table.filter(pl.col("flags").list.len() > 0)
        flag_counts = dict(
            table.select(pl.col("flags").explode().drop_nulls())
            .group_by("flags")
            .len()
            .sort("flags")
            .iter_rows()
        )
        return dg.MaterializeResult(
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
