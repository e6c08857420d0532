"""Per-source ingestion assets partitioned by collection: `<source>/books` and `<source>/pages`."""

import warnings

import dagster as dg
import polars as pl

from comix_assets.common import CONTENT_DIGEST, OWNERS, SOURCE_TITLES, resolve_collection
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.books import (
    STATUS_OK,
    book_paths_to_extract,
    build_books_table,
    failed_books,
    mark_extraction_failures,
)
from comix_resources.discovery import content_digest
from comix_resources.page_store import extract_collection
from comix_resources.previews import markdown_image, markdown_table, thumbnail_grid_png
from comix_resources.resources import ComicSourcesResource, LakeResource, PageExtractionResource

BOOKS_FAILURE_CHECK = "books_readable"
PAGES_FAILURE_CHECK = "pages_decodable"
THUMBNAILS = 12

# Partitioned asset checks are a preview feature we rely on knowingly: without them a check
# result would not say which collection it belongs to.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")


def failure_rate_result(
    name: str,
    asset_key: dg.AssetKey,
    failures: pl.DataFrame,
    total: int,
    warn_above: float,
    noun: str,
) -> dg.AssetCheckResult:
    """WARN when the share of failed items exceeds ``warn_above``; lists every failure."""
    rate = failures.height / total if total else 0.0
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset_key,
        passed=rate <= warn_above,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{failures.height} of {total} {noun} failed ({rate:.1%}); warn above "
        f"{warn_above:.0%}",
        metadata={
            "failure_rate": dg.MetadataValue.float(round(rate, 4)),
            "failed": failures.height,
            "total": total,
            "threshold": dg.MetadataValue.float(warn_above),
            "failures": dg.MetadataValue.md(markdown_table(failures, limit=50)),
        },
    )


def build_ingest_assets(source: str) -> list[dg.AssetsDefinition]:
    partitions = COLLECTION_PARTITIONS[source]
    title = SOURCE_TITLES[source]
    books_key = dg.AssetKey([source, "books"])
    pages_key = dg.AssetKey([source, "pages"])

    @dg.asset(
        key=books_key,
        partitions_def=partitions,
        group_name=source,
        kinds={"python", "polars", "parquet"},
        owners=OWNERS,
        description=f"Every comic file of a {title} collection: content-derived `book_id`, "
        "format, size, sha256, page count, ComicInfo/MetronInfo/CoMet/ComicBookInfo/Calibre/"
        "PDF metadata, and a `status`/`error` per file (bad files never stop the collection). "
        f"Lake: `{source}/<collection>/books.parquet`.",
        check_specs=[
            dg.AssetCheckSpec(
                BOOKS_FAILURE_CHECK,
                asset=books_key,
                partitions_def=partitions,
                description="Share of comic files that cannot be read (truncated, encrypted, "
                "unsafe, no images...), with each failing file and its reason; WARN above the "
                "configured threshold.",
            )
        ],
    )
    def books(
        context: dg.AssetExecutionContext,
        sources: ComicSourcesResource,
        lake: LakeResource,
        extraction: PageExtractionResource,
    ) -> dg.MaterializeResult:
        collection = resolve_collection(context, sources, source)
        fingerprints = sources.fingerprints()
        table = build_books_table(source, collection, fingerprints, extraction.limits())
        store = lake.lake()
        path = store.partition_path(source, collection.key, "books.parquet")
        store.write_parquet(path, table)
        failures = failed_books(table)
        context.log.info(f"{collection.name}: {table.height} books, {failures.height} failed")
        return dg.MaterializeResult(
            metadata={
                "collection": collection.name,
                # What the discovery sensor compares, so it skips what is already done.
                CONTENT_DIGEST: content_digest(collection, fingerprints, cached_only=True) or "",
                "books": table.height,
                "books_ok": table.filter(pl.col("status") == STATUS_OK).height,
                "books_failed": failures.height,
                "pages_listed": int(table["page_count"].fill_null(0).sum()),
                "formats": dg.MetadataValue.json(
                    dict(table.group_by("format").len().sort("format").iter_rows())
                ),
                "path": dg.MetadataValue.path(store.url(path)),
                "preview": dg.MetadataValue.md(
                    markdown_table(
                        table.select(
                            "relative_path",
                            "format",
                            "page_count",
                            "title",
                            "series",
                            "issue",
                            "year",
                            "metadata_origin",
                            "status",
                        )
                    )
                ),
            },
            check_results=[
                failure_rate_result(
                    BOOKS_FAILURE_CHECK,
                    books_key,
                    failures,
                    table.height,
                    extraction.warn_failure_rate,
                    "books",
                )
            ],
        )

    @dg.asset(
        key=pages_key,
        deps=[books_key],
        partitions_def=partitions,
        group_name=source,
        kinds={"python", "polars", "parquet", "image"},
        owners=OWNERS,
        description=f"Page images of every readable book of a {title} collection, copied byte "
        "for byte from archives (PDF: the embedded full-page image, else a render), in natural "
        f"order, plus `pages.parquet`. "
        f"Lake: `{source}/<collection>/pages/<book_id>/<index>.<ext>`. "
        "Books extracted before (same content hash) are reused, not extracted again; a book "
        "whose pages cannot be extracted is marked `error` in books.parquet with the reason.",
        check_specs=[
            dg.AssetCheckSpec(
                PAGES_FAILURE_CHECK,
                asset=pages_key,
                partitions_def=partitions,
                description="Share of pages that could not be extracted (corrupt or truncated "
                "images, pixel bombs), with the failing pages; WARN above the threshold.",
            )
        ],
    )
    def pages(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        extraction: PageExtractionResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        key = context.partition_key
        books_table = store.read_parquet(store.partition_path(source, key, "books.parquet"))
        reused: list[str] = []
        table, book_failures = extract_collection(
            store,
            store.partition_path(source, key, "pages"),
            book_paths_to_extract(books_table),
            extraction.limits(),
            on_book=lambda book_id, was_reused: reused.append(book_id) if was_reused else None,
        )
        path = store.partition_path(source, key, "pages.parquet")
        store.write_parquet(path, table)
        if book_failures:  # the books table must say which books gave no pages, and why
            books_table = mark_extraction_failures(books_table, book_failures)
            books_path = store.partition_path(source, key, "books.parquet")
            store.write_parquet(books_path, books_table)
        ok = table.filter(pl.col("status") == "ok")
        failures = pl.concat(
            [
                table.filter(pl.col("status") != "ok").select(
                    pl.col("page_id").alias("item"), "error"
                ),
                books_table.filter(pl.col("book_id").is_in(list(book_failures))).select(
                    pl.col("relative_path").alias("item"), "error"
                ),
            ]
        )
        thumbnails = [store.read_bytes(store.path(p)) for p in ok["path"].head(THUMBNAILS)]
        return dg.MaterializeResult(
            metadata={
                "pages": ok.height,
                "books": ok["book_id"].n_unique(),
                "books_reused": len(reused),
                "books_failed": len(book_failures),
                "spreads": int(ok["is_spread"].sum()),
                "rendered_pdf_pages": int(ok["rendered"].sum()),
                "bytes": int(ok["bytes"].sum()),
                "path": dg.MetadataValue.path(store.url(path)),
                "thumbnails": dg.MetadataValue.md(
                    markdown_image(thumbnail_grid_png(thumbnails), "first pages")
                ),
            },
            check_results=[
                failure_rate_result(
                    PAGES_FAILURE_CHECK,
                    pages_key,
                    failures,
                    table.height + len(book_failures),
                    extraction.warn_failure_rate,
                    "pages",
                )
            ],
        )

    return [books, pages]
