"""The training set: aligned, comic, quality-passing pages of every source and collection."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from comix_resources.lake import Lake

TRAINING_PAGES_PATH = ("training", "pages.parquet")


def select_training_pages(dataspec: pl.DataFrame, page_quality: pl.DataFrame) -> pl.DataFrame:
    """Pages whose text-to-panel alignment is trusted, that are comics, and that have panels."""
    verdict = page_quality.select("page_id", "is_comic", "flags")
    return (
        dataspec.join(verdict, on="page_id", how="inner")
        .filter(pl.col("is_aligned") & pl.col("is_comic") & (pl.col("detector_panel_count") > 0))
        .drop("is_comic")
    )


def collect_training_pages(
    lake: Lake, partitions: Iterable[tuple[str, str]]
) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    """The union over ``(source, collection)`` partitions, and per-partition counts.

    A partition without both tables yet (never materialized) is skipped and counted as such.
    """
    frames = []
    counts: list[dict[str, object]] = []
    for source, collection in sorted(partitions):
        dataspec_path = lake.partition_path(source, collection, "dataspec.parquet")
        quality_path = lake.partition_path(source, collection, "page_quality.parquet")
        if not (lake.exists(dataspec_path) and lake.exists(quality_path)):
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
        dataspec = lake.read_parquet(dataspec_path)
        kept = select_training_pages(dataspec, lake.read_parquet(quality_path))
        frames.append(kept)
        counts.append(
            {
                "source": source,
                "collection": collection,
                "pages": dataspec.height,
                "kept": kept.height,
                "note": "",
            }
        )
    table = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    if not table.is_empty():
        table = table.sort("source", "collection", "page_id")
    return table, counts
