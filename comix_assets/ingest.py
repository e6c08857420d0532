"""Per-source ingestion assets partitioned by collection: `<source>/books` and `<source>/pages`.

`<source>/files` stands for the comic files themselves (an external asset: CoMix reads them,
never writes them), so lineage starts where the user's library does.
"""

import dagster as dg
import polars as pl

from comix_assets.common import CONTENT_DIGEST, OWNERS, resolve_collection, shard_metadata
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.books import (
    STATUS_OK,
    book_paths_to_extract,
    build_books_table,
    mark_extraction_failures,
    with_declared_spreads,
)
from comix_resources.discovery import content_digest
from comix_resources.page_store import extract_collection
from comix_resources.previews import markdown_image, markdown_table, thumbnail_grid_png
from comix_resources.resources import ComicSourcesResource, LakeResource, PageExtractionResource
from comix_resources.sources.registry import source_spec
from comix_resources.tables import BOOKS, PAGE_IMAGES, PAGES

THUMBNAILS = 12


def build_source_files(source: str) -> dg.AssetSpec:
    spec = source_spec(source)
    return dg.AssetSpec(
        [source, "files"],
        partitions_def=COLLECTION_PARTITIONS[source],
        group_name=source,
        kinds={"folder" if spec.layout == "folder_tree" else "sqlite"},
        owners=OWNERS,
        description=f"The comic files of a {spec.title} collection as the owner keeps them "
        f"({spec.collections_are}; root: `{spec.root_variable}`). Read, never written; the "
        f"`{source}_discovery` sensor watches them.",
    )


def build_ingest_assets(source: str) -> list[dg.AssetsDefinition]:
    partitions = COLLECTION_PARTITIONS[source]
    title = source_spec(source).title

    @dg.asset(
        key=[source, BOOKS.name],
        deps=[[source, "files"]],
        partitions_def=partitions,
        group_name=source,
        kinds={"python", "polars", "parquet"},
        owners=OWNERS,
        description=f"Every book of a {title} collection: content-derived `book_id`, format, "
        "size, sha256, page count, ComicInfo/MetronInfo/CoMet/ComicBookInfo/Calibre/PDF/EPUB "
        "OPF/app-manifest metadata (ComicInfo page types, declared reading direction), how the "
        "book was formed (`grouping`: a file, an image folder, an app download's manifest, or "
        "loose pages grouped by their names), and a `status`/`error` per book (bad files "
        "never stop the collection). "
        f"Lake: `{BOOKS.where(source)}`.",
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
        path = BOOKS.write(store, table, source, context.partition_key)
        failed = table.filter(pl.col("status") == "error").height
        context.log.info(f"{collection.name}: {table.height} books, {failed} failed")
        return dg.MaterializeResult(
            metadata={
                "collection": collection.name,
                **shard_metadata(context.partition_key),
                # What the discovery sensor compares, so it skips what is already done.
                CONTENT_DIGEST: content_digest(collection, fingerprints, cached_only=True) or "",
                "books": table.height,
                "books_ok": table.filter(pl.col("status") == STATUS_OK).height,
                "books_failed": failed,
                "pages_listed": int(table["page_count"].fill_null(0).sum()),
                "formats": dg.MetadataValue.json(
                    dict(table.group_by("format").len().sort("format").iter_rows())
                ),
                "groupings": dg.MetadataValue.json(
                    dict(table.group_by("grouping").len().sort("grouping").iter_rows())
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
        )

    @dg.asset(
        key=[source, PAGES.name],
        deps=[[source, BOOKS.name]],
        partitions_def=partitions,
        group_name=source,
        kinds={"python", "polars", "parquet", "image"},
        owners=OWNERS,
        description=f"Page images of every readable book of a {title} collection, copied byte "
        "for byte from archives (PDF: the embedded full-page image, else a render), in natural "
        f"order, plus `{PAGES.file}`. "
        f"Lake: `{source}/<collection>/{PAGE_IMAGES.file}/<book_id>/<index>.<ext>`. "
        "Books extracted before (same content hash) are reused, not extracted again; a book "
        f"whose pages cannot be extracted is marked `error` in `{BOOKS.file}` with the reason.",
    )
    def pages(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        extraction: PageExtractionResource,
    ) -> dg.MaterializeResult:
        store, key = lake.lake(), context.partition_key
        books_table = BOOKS.read(store, source, key)
        reused: list[str] = []
        table, book_failures = extract_collection(
            store,
            PAGE_IMAGES.path(store, source, key),
            book_paths_to_extract(books_table),
            extraction.limits(),
            on_book=lambda book_id, was_reused: reused.append(book_id) if was_reused else None,
        )
        table = with_declared_spreads(table, books_table)  # ComicInfo DoublePage
        path = PAGES.write(store, table, source, key)
        if book_failures:  # the books table must say which books gave no pages, and why
            BOOKS.write(store, mark_extraction_failures(books_table, book_failures), source, key)
        for book_id, reason in sorted(book_failures.items()):
            context.log.warning(f"book {book_id}: no page extracted: {reason}")
        ok = table.filter(pl.col("status") == "ok")
        thumbnails = [store.read_bytes(store.path(p)) for p in ok["path"].head(THUMBNAILS)]
        return dg.MaterializeResult(
            metadata={
                "pages": ok.height,
                "books": ok["book_id"].n_unique(),
                "books_reused": len(reused),
                "books_failed": len(book_failures),
                "book_failures": dg.MetadataValue.json(book_failures),
                "spreads": int(ok["is_spread"].sum()),
                "rendered_pdf_pages": int(ok["rendered"].sum()),
                "bytes": int(ok["bytes"].sum()),
                "path": dg.MetadataValue.path(store.url(path)),
                "thumbnails": dg.MetadataValue.md(
                    markdown_image(thumbnail_grid_png(thumbnails), "first pages")
                ),
            },
        )

    return [books, pages]
