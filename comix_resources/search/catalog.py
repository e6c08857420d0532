"""The search catalog: one row per embedded page, from the partition's lake tables.

Panels are listed slot for slot as the embedding store holds them (Closure Lite's
``page_slots`` with the whole-page fallback: the one layout both must share), so
``panels[].slot`` names the same vector as ``"<page_id>:<slot>"`` in the panel index, and
``order`` is the DataSpec reading order.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from comix_resources.closure_lite import MAX_PANELS, page_slots
from comix_resources.lake import Lake
from comix_resources.search.bundle import CATALOG_SCHEMA
from comix_resources.shards import collection_key
from comix_resources.tables import DATASPEC, PAGE_QUALITY, PAGE_TYPES


def partition_catalog(lake: Lake, source: str, partition: str) -> pl.DataFrame:
    """Catalog rows (``search.bundle.CATALOG_SCHEMA``) of one partition's DataSpec pages.

    ``is_comic`` comes from ``page_quality`` and ``page_type`` from ``page_types`` when those
    tables exist (null page types otherwise). A shard's pages belong to its collection (what
    the search page filters by); ``partition`` names the shard, for links to its assets.
    """
    collection = collection_key(partition)
    dataspec = DATASPEC.read(lake, source, partition)
    if dataspec.is_empty():  # a shard whose range holds no book yet
        return pl.DataFrame(schema={k: v for k, v in CATALOG_SCHEMA.items() if k != "text"})
    rows = []
    for row in dataspec.to_dicts():
        size = row.get("page_size") or {}
        slots = page_slots(row, MAX_PANELS, whole_page=True)
        rows.append(
            {
                "page_id": row["page_id"],
                "book_id": row["book"],
                "source": source,
                "collection": collection,
                "partition": partition,
                "page_index": row["page_index"],
                "image_path": row["page_image_path"],
                "width": size.get("width"),
                "height": size.get("height"),
                "panels": [
                    {"slot": j, "box": list(s.box), "order": s.order, "text": s.text}
                    for j, s in enumerate(slots)
                ],
            }
        )
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "panels": pl.List(
                pl.Struct(
                    {
                        "slot": pl.Int32,
                        "box": pl.List(pl.Float32),
                        "order": pl.Int32,
                        "text": pl.String,
                    }
                )
            )
        },
    )
    quality = PAGE_QUALITY.read_if_exists(lake, source, partition)
    if quality is not None:
        frame = frame.join(quality.select("page_id", "is_comic"), on="page_id", how="left")
    types = PAGE_TYPES.read_if_exists(lake, source, partition)
    if types is not None:
        frame = frame.join(types.select("page_id", "page_type"), on="page_id", how="left")
    return frame


def corpus_catalog(lake: Lake, partitions: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """The catalog of several ``(source, partition key)`` partitions."""
    frames = [partition_catalog(lake, source, partition) for source, partition in partitions]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
