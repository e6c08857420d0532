"""Every lake table, declared once: where it lives, its polars schema and how it is read.

Writers build frames with these schemas, assets and the web app read and write through
``LakeTable`` (no file name is spelled anywhere else), and the Great Expectations suites start
from the schema (``comix_resources.expectations.table_suite``). Paths go through ``Lake``, so
an ``s3://`` lake works the same as a folder.

Per collection, under ``<source>/<collection>/``: ``books``, ``pages`` (plus the page images
in ``pages/<book_id>/``), ``panels`` (plus ``panels.coco.json``), ``page_text``, ``dataspec``,
``page_quality``, ``page_types``; a shard of a large collection (``comix_resources.shards``)
has them under ``<source>/<collection>/shards/<range>/`` and shares the collection's page
images. Across sources: ``training_pages`` (``training/``),
``embedding_map`` and ``clusters`` (``analysis/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl

from comix_resources.page_classes import PAGE_CLASSES
from comix_resources.shards import collection_key, lake_folder

if TYPE_CHECKING:
    from comix_resources.lake import Lake

# Where a file lives: in its partition's folder; in its collection's folder, shared by the
# collection's shards (page images); once for the corpus.
Scope = Literal["partition", "collection", "corpus"]


class MissingTableError(FileNotFoundError):
    """A table that a step needs has not been materialized (or was removed)."""


@dataclass(frozen=True)
class LakeFile:
    """A file at a fixed place in the lake: per collection, or once for the corpus."""

    name: str
    file: str  # relative to ``<source>/<collection>/`` or, for the corpus, the lake root
    description: str
    scope: Scope = "partition"

    def path(self, lake: Lake, source: str | None = None, collection: str | None = None) -> str:
        if self.scope == "corpus":
            return lake.path(self.file)
        if source is None or collection is None:
            raise ValueError(f"{self.name} lives in a collection: pass source and collection")
        if self.scope == "collection":
            return lake.path(source, collection_key(collection), self.file)
        return lake.partition_path(source, collection, self.file)

    def exists(self, lake: Lake, source: str | None = None, collection: str | None = None) -> bool:
        return lake.exists(self.path(lake, source, collection))

    def where(self, source: str | None = None, collection: str | None = None) -> str:
        """The lake-relative place, for messages: ``amazon/x/books.parquet``."""
        if self.scope == "corpus":
            return self.file
        if collection is None:
            folder = "<collection>"
        elif self.scope == "collection":
            folder = collection_key(collection)
        else:
            folder = "/".join(lake_folder(collection))
        return f"{source or '<source>'}/{folder}/{self.file}"


@dataclass(frozen=True)
class LakeTable(LakeFile):
    """A parquet table; ``key`` names the columns that identify a row (unique, not null)."""

    schema: Mapping[str, pl.DataType] = None  # type: ignore[assignment]
    key: tuple[str, ...] = ()

    def read(self, lake: Lake, source: str | None = None, collection: str | None = None):
        """The table; ``MissingTableError`` naming the upstream asset when it is not there."""
        path = self.path(lake, source, collection)
        if not lake.exists(path):
            raise MissingTableError(
                f"{self.where(source, collection)} is not in the lake ({lake.url(path)}): "
                f"materialize {self.asset_name(source)} first"
            )
        return lake.read_parquet(path)

    def read_if_exists(
        self, lake: Lake, source: str | None = None, collection: str | None = None
    ) -> pl.DataFrame | None:
        path = self.path(lake, source, collection)
        return lake.read_parquet(path) if lake.exists(path) else None

    def write(
        self,
        lake: Lake,
        frame: pl.DataFrame,
        source: str | None = None,
        collection: str | None = None,
    ) -> str:
        """Write ``frame`` (exactly the declared columns and types, in order); its path."""
        path = self.path(lake, source, collection)
        lake.write_parquet(path, self.conform(frame))
        return path

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with exactly the declared columns, in order and cast to the declared
        types; ValueError naming what does not fit."""
        missing = [name for name in self.schema if name not in frame.columns]
        extra = [name for name in frame.columns if name not in self.schema]
        if missing or extra:
            raise ValueError(f"{self.name}: columns missing {missing}, not declared {extra}")
        try:
            return frame.select(
                [pl.col(name).cast(dtype, strict=True) for name, dtype in self.schema.items()]
            )
        except pl.exceptions.PolarsError as error:
            message = f"{self.name}: a column does not fit its declared type: {error}"
            raise ValueError(message) from error

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=dict(self.schema))

    def asset_name(self, source: str | None = None) -> str:
        return self.name if self.scope == "corpus" else f"{source or '<source>'}/{self.name}"


# Shared shapes -----------------------------------------------------------------------------
TEXT_KINDS = ("dialogue", "narration", "sfx")
BOX = pl.List(pl.Int64)
DETECTION = pl.Struct({"bbox": BOX, "score": pl.Float64})
DECLARED_PAGE = pl.Struct(
    {"page_index": pl.Int32(), "type": pl.String(), "double_page": pl.Boolean()}
)

BOOKS = LakeTable(
    "books",
    "books.parquet",
    "one row per comic file: identity, container, metadata and a status per file",
    schema={
        "book_id": pl.String(),
        "source": pl.String(),
        "collection": pl.String(),
        "path": pl.String(),  # for people: undecodable bytes of a name shown as \\xNN
        "raw_path": pl.Binary(),  # the exact file name bytes, which is what gets opened
        "relative_path": pl.String(),
        "format": pl.String(),
        "container": pl.String(),
        # how the source made the book: file, folder, manifest (an unpacked app download),
        # page_names (loose pages of a folder grouped by their names)
        "grouping": pl.String(),
        # page_names: the files (exact name bytes) of the folder holding the book, in page
        # order; the path names the book inside that folder. Null for every other book.
        "page_files": pl.List(pl.Binary()),
        "bytes": pl.Int64(),
        "sha256": pl.String(),
        "page_count": pl.Int32(),
        "title": pl.String(),
        "series": pl.String(),
        "issue": pl.String(),
        "publisher": pl.String(),
        "year": pl.Int32(),
        "authors": pl.List(pl.String()),
        "metadata_origin": pl.String(),
        "book_uuid": pl.String(),  # an app download's manifest
        # Read right to left, as the book declares it (app manifest, ComicInfo Manga, EPUB
        # spine); null: as COMIX_RTL_COLLECTIONS says for the collection.
        "is_rtl": pl.Boolean(),
        # ComicInfo <Pages>: page index, ComicInfo type and DoublePage, as the file says
        "declared_pages": pl.List(DECLARED_PAGE),
        "calibre_id": pl.Int64(),
        "status": pl.String(),
        "error": pl.String(),
    },
    key=("relative_path",),
)

PAGE_IMAGES = LakeFile(
    "page_images",
    "pages",
    "page images: pages/<book_id>/<index:04d>.<ext>, shared by a collection's shards",
    "collection",
)

PAGES = LakeTable(
    "pages",
    "pages.parquet",
    "one row per page of every readable book; images under pages/<book_id>/",
    schema={
        "page_id": pl.String(),
        "book_id": pl.String(),
        "page_index": pl.Int32(),
        "path": pl.String(),
        "width": pl.Int32(),
        "height": pl.Int32(),
        "format": pl.String(),
        "bytes": pl.Int64(),
        "sha256": pl.String(),
        "is_spread": pl.Boolean(),
        "source_name": pl.String(),
        "rendered": pl.Boolean(),
        "status": pl.String(),
        "error": pl.String(),
    },
    key=("page_id",),
)

PANELS = LakeTable(
    "panels",
    "panels.parquet",
    "one row per detected region (panel, character, text, face); panels in reading order",
    schema={
        "page_id": pl.String(),
        "category": pl.String(),
        "category_id": pl.Int64(),
        "bbox": pl.List(pl.Int64()),
        "score": pl.Float64(),
        "order": pl.Int64(),
        "detector": pl.String(),
        "detector_version": pl.String(),
    },
)
PANELS_COCO = LakeFile("panels_coco", "panels.coco.json", "the panels as COCO, CoMix ids")

TEXT_ITEM = pl.Struct(
    {
        "text": pl.String(),
        "kind": pl.String(),
        "bbox": pl.List(pl.Int64()),
        "speaker": pl.String(),
        "panel_number": pl.Int64(),
        "confidence": pl.Float64(),
    }
)
PAGE_TEXT = LakeTable(
    "page_text",
    "page_text.parquet",
    "text items per page with the engine, attempts, latency, tokens and cost",
    schema={
        "page_id": pl.String(),
        "sha256": pl.String(),
        "cascade": pl.String(),
        "status": pl.String(),
        "engine": pl.String(),
        "model": pl.String(),
        "attempts": pl.Int64(),
        "error_kinds": pl.List(pl.String()),
        "latency_s": pl.Float64(),
        "prompt_tokens": pl.Int64(),
        "completion_tokens": pl.Int64(),
        "cost_usd": pl.Float64(),
        "error": pl.String(),
        "items": pl.List(TEXT_ITEM),
        "vlm": pl.String(),
        "triage": pl.String(),  # non_comic | comic | unsure
        "triage_reason": pl.String(),
        "skipped": pl.String(),  # why engines were spared the page (None: it was read)
        "features": pl.String(),  # JSON: quality features of this decode with the final text boxes
    },
    key=("page_id",),
)

DATASPEC_PANEL = pl.Struct(
    {
        "panel_coords": BOX,
        "confidence": pl.Float64,
        "order": pl.Int64,
        "text": pl.Struct({kind: pl.List(pl.String) for kind in TEXT_KINDS}),
        "characters": pl.List(pl.String),
        "description": pl.String,
    }
)
DATASPEC_TEXT = pl.Struct(
    {
        "text": pl.String,
        "kind": pl.String,
        "bbox": BOX,
        "speaker": pl.String,
        "panel_number": pl.Int64,  # as the text engine reported it
        "panel": pl.Int64,  # ``order`` of the detector panel it was assigned to, or null
        "containment": pl.Float64,  # best share of its box inside a panel; null without box
        "method": pl.String,  # how it was placed; null when it was not
    }
)
DATASPEC = LakeTable(
    "dataspec",
    "dataspec.parquet",
    "the DataSpec record per page: panels with their text, characters, faces, alignment",
    schema={
        "page_id": pl.String,
        "book": pl.String,
        "page_index": pl.Int64,
        "page_image_path": pl.String,
        "source": pl.String,
        "collection": pl.String,
        "page_size": pl.Struct({"width": pl.Int64, "height": pl.Int64}),
        "text_engine": pl.String,
        "text_model": pl.String,
        "detector": pl.String,
        "detector_version": pl.String,
        "panels": pl.List(DATASPEC_PANEL),
        "reading_order": pl.List(pl.Int64),
        "characters": pl.List(pl.String),
        "character_boxes": pl.List(DETECTION),
        "faces": pl.List(DETECTION),
        "texts": pl.List(DATASPEC_TEXT),
        "n_texts": pl.Int64,
        "n_texts_assigned": pl.Int64,
        "text_panel_count": pl.Int64,
        "detector_panel_count": pl.Int64,
        "panel_ratio": pl.Float64,
        "text_coverage": pl.Float64,
        "is_perfect_match": pl.Boolean,
        "alignment_method": pl.String,
        "alignment_score": pl.Float64,
        "is_aligned": pl.Boolean,
        "quality_score": pl.Int64,
    },
    key=("page_id",),
)

QUALITY_FEATURES: dict[str, pl.DataType] = {
    "width": pl.Int64(),
    "height": pl.Int64(),
    "aspect_ratio": pl.Float64(),
    "orientation": pl.String(),
    "mean_brightness": pl.Float64(),
    "brightness_std": pl.Float64(),
    "ink_coverage": pl.Float64(),
    "edge_density": pl.Float64(),
    "saturation": pl.Float64(),
    "text_area_fraction": pl.Float64(),
    "art_fraction": pl.Float64(),
    "text_box_count": pl.Int64(),
    "panel_count": pl.Int64(),
}
PAGE_QUALITY = LakeTable(
    "page_quality",
    "page_quality.parquet",
    "image features per page and the comic / non-comic verdict with its flags",
    schema={
        "page_id": pl.String(),
        **QUALITY_FEATURES,
        "is_comic": pl.Boolean(),
        "flags": pl.List(pl.String()),
        "reasons": pl.String(),
    },
    key=("page_id",),
)

PAGE_TYPES = LakeTable(
    "page_types",
    "page_types.parquet",
    "a page class per page with its probabilities, and its story segment",
    schema={
        "page_id": pl.String(),
        "book_id": pl.String(),
        "page_index": pl.Int32(),
        "page_type": pl.String(),
        "probability": pl.Float64(),
        "probabilities": pl.Struct({c: pl.Float64() for c in PAGE_CLASSES}),
        "segment_index": pl.Int32(),
        "segment_type": pl.String(),
        "segment_start": pl.Int32(),
        "segment_end": pl.Int32(),
        "method": pl.String(),
    },
    key=("page_id",),
)

# Page types joined where they are used (training, search, exports), never built into the
# DataSpec table: a collection's run needs no corpus-wide model.
PAGE_TYPE_COLUMNS: dict[str, pl.DataType] = {
    "page_type": pl.String(),
    "page_type_probability": pl.Float64(),
}

TRAINING_PAGES = LakeTable(
    "training_pages",
    "training/pages.parquet",
    "aligned, comic pages with panels of every source: what Closure Lite trains on",
    scope="corpus",
    schema={**DATASPEC.schema, **PAGE_TYPE_COLUMNS, "flags": pl.List(pl.String())},
    key=("page_id",),
)

EMBEDDING_MAP = LakeTable(
    "embedding_map",
    "analysis/embedding_map.parquet",
    "2-D map coordinates and cluster of every page, beside the vision-only ablation",
    scope="corpus",
    schema={
        "page_id": pl.String(),
        "x": pl.Float32(),
        "y": pl.Float32(),
        "cluster": pl.Int32(),
        "vision_x": pl.Float32(),
        "vision_y": pl.Float32(),
        "vision_cluster": pl.Int32(),
    },
    key=("page_id",),
)
CLUSTERS = LakeFile("clusters", "analysis/clusters.parquet", "one row per map cluster", "corpus")
ANALYSIS = LakeFile("analysis", "analysis", "the corpus map's folder", "corpus")
SEARCH_INDEX = LakeFile("search_index", "index", "the search bundle's folder", "corpus")

PARTITION_TABLES: tuple[LakeTable, ...] = (
    BOOKS,
    PAGES,
    PANELS,
    PAGE_TEXT,
    DATASPEC,
    PAGE_QUALITY,
    PAGE_TYPES,
)
CORPUS_TABLES: tuple[LakeTable, ...] = (TRAINING_PAGES, EMBEDDING_MAP)


def with_page_types(frame: pl.DataFrame, page_types: pl.DataFrame | None) -> pl.DataFrame:
    """``frame`` (keyed by ``page_id``) with ``page_type`` and ``page_type_probability``
    from a ``page_types`` table; null where a page has none or there is no table."""
    if page_types is None or not page_types.height:
        return frame.with_columns(
            [pl.lit(None, dtype).alias(name) for name, dtype in PAGE_TYPE_COLUMNS.items()]
        )
    return frame.join(
        page_types.select(
            "page_id",
            pl.col("page_type").cast(pl.String),
            pl.col("probability").cast(pl.Float64).alias("page_type_probability"),
        ),
        on="page_id",
        how="left",
        maintain_order="left",
    )
