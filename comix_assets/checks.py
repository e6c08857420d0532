"""Asset checks, built from declarations: table suites, failure rates and model gates.

Every check is its own ``@asset_check`` that reads what is materialized (the lake table, or the
registered model version and the metrics its run logged), never the run that made it: it runs
after its asset in the same run, and again on its own from the UI ("Execute" on the check)
against the table as it is. Declarations below say which check guards which table; the
factory turns them into definitions with the same rich metadata for every kind (expectation
tables, thumbnails of offending pages, failing items, links to MLflow).
"""

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import polars as pl

from comix_resources.books import EXTRACTION_FAILED, failed_books
from comix_resources.expectations import (
    PreparedSuite,
    SuiteOutcome,
    books_suite,
    dataspec_rates_suite,
    dataspec_schema_suite,
    page_quality_suite,
    page_text_suite,
    page_types_suite,
    pages_suite,
    panels_schema_suite,
)
from comix_resources.lake import Lake
from comix_resources.previews import markdown_image, markdown_table, thumbnail_grid_png
from comix_resources.resources import (
    DataQualityResource,
    LakeResource,
    MlflowResource,
    PageExtractionResource,
)
from comix_resources.tables import (
    BOOKS,
    DATASPEC,
    PAGE_QUALITY,
    PAGE_TEXT,
    PAGE_TYPES,
    PAGES,
    PANELS,
    LakeTable,
)
from comix_resources.tracking import GateVerdict

WORST_EXAMPLES = 8
FAILURES_LISTED = 50
BLOCKING_NOTE = " Blocking: it guards the training set."


@contextmanager
def _partitioned_checks() -> Iterator[None]:
    """Partitioned asset checks are a preview feature we rely on knowingly: without them a
    check result would not say which collection it belongs to."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*partitions_def.*")
        yield


# Declarations -----------------------------------------------------------------------------
SuiteBuilder = Callable[[Lake, str, str, DataQualityResource], PreparedSuite]


@dataclass(frozen=True)
class SuiteCheck:
    """A Great Expectations suite over one table of a collection."""

    name: str
    table: LakeTable
    build: SuiteBuilder
    description: str
    blocking: bool = False
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


@dataclass(frozen=True)
class FailureRateCheck:
    """WARN when the share of failed items of a table exceeds the extraction threshold."""

    name: str
    table: LakeTable
    failures: Callable[[Lake, str, str], tuple[pl.DataFrame, int]]
    noun: str
    description: str


def _books_failures(lake: Lake, source: str, key: str) -> tuple[pl.DataFrame, int]:
    books = BOOKS.read(lake, source, key)
    return failed_books(books), books.height


def _pages_failures(lake: Lake, source: str, key: str) -> tuple[pl.DataFrame, int]:
    """Pages that failed, and books the pages step could not extract at all (it marks them in
    the books table with the reason)."""
    pages = PAGES.read(lake, source, key)
    books = BOOKS.read(lake, source, key)
    failed_pages = pages.filter(pl.col("status") != "ok").select(
        pl.col("page_id").alias("item"), "error"
    )
    unextracted = books.filter(pl.col("error").str.starts_with(EXTRACTION_FAILED)).select(
        pl.col("relative_path").alias("item"), "error"
    )
    return pl.concat([failed_pages, unextracted]), pages.height + unextracted.height


SOURCE_CHECKS: tuple[SuiteCheck | FailureRateCheck, ...] = (
    SuiteCheck(
        "books_schema",
        BOOKS,
        lambda lake, s, k, dq: books_suite(BOOKS.read(lake, s, k)),
        "Great Expectations suite: the declared columns, one row per file, known statuses, a "
        "reason on every failed file and pages in every readable book.",
    ),
    FailureRateCheck(
        "books_readable",
        BOOKS,
        _books_failures,
        "books",
        "Share of comic files that cannot be read (truncated, encrypted, unsafe, no "
        "images...), with each failing file and its reason; WARN above the configured "
        "threshold.",
    ),
    SuiteCheck(
        "pages_schema",
        PAGES,
        lambda lake, s, k, dq: pages_suite(PAGES.read(lake, s, k)),
        "Great Expectations suite: the declared columns, one row per page id, an image with a "
        "size for every readable page and a reason for every failed one.",
    ),
    FailureRateCheck(
        "pages_decodable",
        PAGES,
        _pages_failures,
        "pages",
        "Share of pages that could not be extracted (corrupt or truncated images, pixel "
        "bombs, books that gave no page), with the failing items; WARN above the threshold.",
    ),
    SuiteCheck(
        "panels_schema",
        PANELS,
        lambda lake, s, k, dq: panels_schema_suite(PANELS.read(lake, s, k), PAGES.read(lake, s, k)),
        "Great Expectations suite: ids non-null, known categories, boxes of positive size "
        "inside their page, panel orders contiguous 0..n-1 per page.",
        blocking=True,
    ),
    SuiteCheck(
        "page_text_schema",
        PAGE_TEXT,
        lambda lake, s, k, dq: page_text_suite(PAGE_TEXT.read(lake, s, k)),
        "Great Expectations suite: the declared columns, one row per page, costs and latencies "
        "not negative, a reason for every page that no engine could read.",
    ),
    SuiteCheck(
        "dataspec_schema",
        DATASPEC,
        lambda lake, s, k, dq: dataspec_schema_suite(DATASPEC.read(lake, s, k)),
        "Great Expectations suite: page ids unique, counts consistent, quality score 0..4, "
        "known alignment methods, panels inside the page.",
        blocking=True,
    ),
    SuiteCheck(
        "panel_count_agreement",
        DATASPEC,
        lambda lake, s, k, dq: dataspec_rates_suite(
            DATASPEC.read(lake, s, k), min_agreement_rate=dq.min_panel_agreement_rate
        ),
        "Share of pages where the text source and the detector agree on the panel count "
        "(perfect match, or ratio within 0.9-1.1); WARN below the threshold.",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SuiteCheck(
        "aligned_page_rate",
        DATASPEC,
        lambda lake, s, k, dq: dataspec_rates_suite(
            DATASPEC.read(lake, s, k), min_aligned_rate=dq.min_aligned_rate
        ),
        "Share of pages whose text-to-panel alignment is trusted; ERROR below the threshold, "
        "since training keeps only aligned pages.",
        blocking=True,
    ),
    SuiteCheck(
        "page_quality_schema",
        PAGE_QUALITY,
        lambda lake, s, k, dq: page_quality_suite(PAGE_QUALITY.read(lake, s, k)),
        "Great Expectations suite: one verdict per page, features within 0..1.",
        blocking=True,
    ),
    SuiteCheck(
        "non_comic_fraction",
        PAGE_QUALITY,
        lambda lake, s, k, dq: page_quality_suite(
            PAGE_QUALITY.read(lake, s, k), max_non_comic_fraction=dq.max_non_comic_fraction
        ),
        "Share of pages judged non-comic (book text, blank, very dark); WARN above the "
        "threshold: the collection may hold something other than comics.",
        severity=dg.AssetCheckSeverity.WARN,
    ),
    SuiteCheck(
        "page_types_schema",
        PAGE_TYPES,
        lambda lake, s, k, dq: page_types_suite(PAGE_TYPES.read(lake, s, k)),
        "Great Expectations suite: one class per page from the known classes, probabilities "
        "in 0..1, every page inside its story segment.",
    ),
)


# Results ------------------------------------------------------------------------------------
def suite_check_result(
    outcome: SuiteOutcome,
    lake: Lake,
    pages: pl.DataFrame | None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """The suite's verdict with its expectation table and thumbnails of offending pages."""
    failing = outcome.failing_page_ids(limit=WORST_EXAMPLES)
    paths = dict(zip(pages["page_id"], pages["path"], strict=True)) if pages is not None else {}
    thumbnails = [lake.read_bytes(lake.path(paths[p])) for p in failing if paths.get(p)]
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=severity,
        description=f"{len(outcome.results) - len(outcome.failures)} of {len(outcome.results)} "
        f"expectations met over {outcome.evaluated} rows",
        metadata={
            "rows": outcome.evaluated,
            "expectations": len(outcome.results),
            "failed_expectations": len(outcome.failures),
            "failing_items": dg.MetadataValue.json(failing),
            "report": dg.MetadataValue.md(outcome.to_markdown()),
            "worst_examples": dg.MetadataValue.md(
                markdown_image(thumbnail_grid_png(thumbnails), "offending pages")
                if thumbnails
                else "_none_"
            ),
        },
    )


def failure_rate_result(failures: pl.DataFrame, total: int, warn_above: float, noun: str):
    """WARN when the share of failed items exceeds ``warn_above``; lists every failure."""
    rate = failures.height / total if total else 0.0
    return dg.AssetCheckResult(
        passed=rate <= warn_above,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{failures.height} of {total} {noun} failed ({rate:.1%}); warn above "
        f"{warn_above:.0%}",
        metadata={
            "failure_rate": dg.MetadataValue.float(round(rate, 4)),
            "failed": failures.height,
            "total": total,
            "threshold": dg.MetadataValue.float(warn_above),
            "failures": dg.MetadataValue.md(markdown_table(failures, limit=FAILURES_LISTED)),
        },
    )


def gate_result(verdict: GateVerdict, table_md: str, passed_text: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(verdict.reasons) or passed_text,
        metadata={
            "model": verdict.model_name,
            "version": verdict.version,
            "champion_version": verdict.champion_version or 0,
            "model_version": dg.MetadataValue.url(verdict.model_version_url),
            "evaluation": dg.MetadataValue.md(table_md),
        },
    )


# Factory ------------------------------------------------------------------------------------
def build_source_checks(
    source: str, partitions: dg.PartitionsDefinition
) -> list[dg.AssetChecksDefinition]:
    """Every declared check of one source's collection tables."""
    return [_source_check(source, partitions, declared) for declared in SOURCE_CHECKS]


def _source_check(
    source: str, partitions: dg.PartitionsDefinition, declared: SuiteCheck | FailureRateCheck
) -> dg.AssetChecksDefinition:
    asset = dg.AssetKey([source, declared.table.name])
    blocking = isinstance(declared, SuiteCheck) and declared.blocking
    common = {
        "asset": asset,
        "name": declared.name,
        "description": declared.description + (BLOCKING_NOTE if blocking else ""),
        "blocking": blocking,
        "partitions_def": partitions,
    }
    with _partitioned_checks():
        if isinstance(declared, FailureRateCheck):

            @dg.asset_check(**common)
            def failure_rate(
                context: dg.AssetCheckExecutionContext,
                lake: LakeResource,
                extraction: PageExtractionResource,
            ) -> dg.AssetCheckResult:
                failures, total = declared.failures(lake.lake(), source, context.partition_key)
                return failure_rate_result(
                    failures, total, extraction.warn_failure_rate, declared.noun
                )

            return failure_rate

        @dg.asset_check(**common)
        def suite(
            context: dg.AssetCheckExecutionContext,
            lake: LakeResource,
            data_quality: DataQualityResource,
        ) -> dg.AssetCheckResult:
            store, key = lake.lake(), context.partition_key
            outcome = declared.build(store, source, key, data_quality).validate()
            pages = PAGES.read_if_exists(store, source, key)
            return suite_check_result(outcome, store, pages, declared.severity)

        return suite


def build_gate_check(
    asset: str,
    name: str,
    description: str,
    verdict: Callable[[dg.AssetCheckExecutionContext, MlflowResource], GateVerdict],
    report: Callable[[GateVerdict], str],
    passed_text: str,
    partitions: dg.PartitionsDefinition | None = None,
) -> dg.AssetChecksDefinition:
    """A blocking model gate: the registered version's logged metrics through the gate."""
    with _partitioned_checks():

        @dg.asset_check(
            asset=asset,
            name=name,
            description=description,
            blocking=True,
            partitions_def=partitions,
        )
        def gate(
            context: dg.AssetCheckExecutionContext, mlflow: MlflowResource
        ) -> dg.AssetCheckResult:
            try:
                found = verdict(context, mlflow)
            except LookupError as error:
                return dg.AssetCheckResult(passed=False, description=str(error))
            return gate_result(found, report(found), passed_text)

    return gate
