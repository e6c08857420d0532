"""Asset checks from Great Expectations suites, reported with counts and the worst pages."""

import dagster as dg
import polars as pl

from comix_resources.expectations import SuiteOutcome
from comix_resources.lake import Lake
from comix_resources.previews import markdown_image, thumbnail_grid_png

WORST_EXAMPLES = 8


def check_spec(
    name: str,
    asset_key: dg.AssetKey,
    partitions: dg.PartitionsDefinition,
    description: str,
    blocking: bool = False,
) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=asset_key,
        partitions_def=partitions,
        description=description + (" Blocking: it guards the training set." if blocking else ""),
        blocking=blocking,
    )


def suite_check_result(
    name: str,
    asset_key: dg.AssetKey,
    outcome: SuiteOutcome,
    lake: Lake,
    pages: pl.DataFrame,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """The suite's verdict with its expectation table and thumbnails of offending pages."""
    failing = outcome.failing_page_ids(limit=WORST_EXAMPLES)
    paths = dict(zip(pages["page_id"], pages["path"], strict=True))
    thumbnails = [lake.read_bytes(lake.path(paths[p])) for p in failing if paths.get(p)]
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset_key,
        passed=outcome.success,
        severity=severity,
        description=f"{len(outcome.results) - len(outcome.failures)} of {len(outcome.results)} "
        f"expectations met over {outcome.evaluated} rows",
        metadata={
            "rows": outcome.evaluated,
            "expectations": len(outcome.results),
            "failed_expectations": len(outcome.failures),
            "failing_pages": dg.MetadataValue.json(failing),
            "report": dg.MetadataValue.md(outcome.to_markdown()),
            "worst_examples": dg.MetadataValue.md(
                markdown_image(thumbnail_grid_png(thumbnails), "offending pages")
                if thumbnails
                else "_none_"
            ),
        },
    )
