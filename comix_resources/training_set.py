"""The training set: aligned, comic, quality-passing pages of every source and collection."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from comix_resources.lake import Lake
from comix_resources.tables import (
    DATASPEC,
    PAGE_QUALITY,
    PAGE_TYPES,
    TRAINING_PAGES,
    with_page_types,
)


def select_training_pages(
    dataspec: pl.DataFrame, page_quality: pl.DataFrame, page_types: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Pages whose text-to-panel alignment is trusted, that are comics, and that have panels,
    with their page type (null where a collection has no page types yet)."""
    verdict = page_quality.select("page_id", "is_comic", "flags")
    kept = (
        dataspec.join(verdict, on="page_id", how="inner")
        .filter(pl.col("is_aligned") & pl.col("is_comic") & (pl.col("detector_panel_count") > 0))
        .drop("is_comic")
    )
    return TRAINING_PAGES.conform(with_page_types(kept, page_types))


def collect_training_pages(
    lake: Lake, partitions: Iterable[tuple[str, str]]
) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    """The union over ``(source, collection)`` partitions, and per-partition counts.

    A partition without both tables yet (never materialized) is skipped and counted as such.
    """
    frames = []
    counts: list[dict[str, object]] = []
    for source, collection in sorted(partitions):
        dataspec = DATASPEC.read_if_exists(lake, source, collection)
        quality = PAGE_QUALITY.read_if_exists(lake, source, collection)
        if dataspec is None or quality is None:
            counts.append(
                {
                    "source": source,
                    "collection": collection,
                    "pages": 0,
                    "kept": 0,
                    "note": "not materialized yet",
                }
            )
            continue
        page_types = PAGE_TYPES.read_if_exists(lake, source, collection)
        kept = select_training_pages(dataspec, quality, page_types)
        frames.append(kept)
        counts.append(
            {
                "source": source,
                "collection": collection,
                "pages": dataspec.height,
                "kept": kept.height,
                "note": "" if page_types is not None else "no page types yet",
            }
        )
    table = pl.concat(frames, how="vertical") if frames else TRAINING_PAGES.empty()
    return table.sort("source", "collection", "page_id"), counts
