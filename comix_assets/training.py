"""Cross-source assets that feed the model: the training page set."""

import dagster as dg
import polars as pl

from comix_assets.common import OWNERS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.previews import markdown_table
from comix_resources.resources import LakeResource
from comix_resources.sources.registry import SOURCES
from comix_resources.tables import DATASPEC, PAGE_QUALITY, PAGE_TYPES, TRAINING_PAGES
from comix_resources.training_set import collect_training_pages


@dg.asset(
    key="training_pages",
    deps=[
        dg.AssetDep([source, table.name], partition_mapping=dg.AllPartitionMapping())
        for source in SOURCES
        for table in (DATASPEC, PAGE_QUALITY, PAGE_TYPES)
    ],
    group_name="training",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    description="The union of aligned, comic, quality-passing pages (with at least one panel) "
    "of every source and collection, with their page type: the DataSpec rows Closure Lite "
    f"trains on. Lake: `{TRAINING_PAGES.file}`.",
)
def training_pages(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    store = lake.lake()
    partitions = [
        (source, key)
        for source in SOURCES
        for key in context.instance.get_dynamic_partitions(COLLECTION_PARTITIONS[source].name)
    ]
    table, counts = collect_training_pages(store, partitions)
    path = TRAINING_PAGES.write(store, table)
    per_partition = pl.DataFrame(counts)
    per_source = (
        per_partition.group_by("source").agg(pl.sum("pages"), pl.sum("kept")).sort("source")
        if counts
        else pl.DataFrame()
    )
    return dg.MaterializeResult(
        metadata={
            "pages": table.height,
            **{f"pages_{row['source']}": row["kept"] for row in per_source.iter_rows(named=True)},
            "by_source": dg.MetadataValue.md(markdown_table(per_source)),
            "by_collection": dg.MetadataValue.md(markdown_table(per_partition, limit=100)),
            "path": dg.MetadataValue.path(store.url(path)),
        }
    )
