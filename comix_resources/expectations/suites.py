"""Suite builders: the table with the scalar columns GX needs, and the expectations on them.

Every suite starts from its table's declaration (``comix_resources.tables``): each declared
column is there, and the key columns are unique and never null (``table_expectations``); the
builder adds the table's own rules. GX checks one column (or a pair, or a set) per row; facts
that need a list, a join or a group (a box's width, its page's size, a page's panel orders)
are derived here in polars first, as columns with plain names that then show up in the
report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from comix_resources.expectations.validate import PreparedSuite
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

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

BOOK_STATUSES = ("ok", "error", "duplicate")
# How a source forms a book (sources.model.GROUPINGS; a test keeps the two equal)
BOOK_GROUPINGS = ("file", "folder", "manifest", "page_names")
PAGE_STATUSES = ("ok", "error")

# As named by comix_resources.dataspec.align (not imported: that module loads scipy).
ALIGNMENT_METHODS = ("geometry", "vlm_panels_iou", "count", "none")

# Detectors and the DataSpec round box corners to whole pixels, so a box may cross an edge by
# one pixel without being wrong.
TOLERANCE_PX = 1

# Page-quality features that are shares or 0..1 levels (see comix_resources.quality.features).
UNIT_FEATURES = (
    "mean_brightness",
    "brightness_std",
    "ink_coverage",
    "edge_density",
    "saturation",
    "text_area_fraction",
    "art_fraction",
)


def table_expectations(table: LakeTable) -> list[Expectation]:
    """What the declaration promises of rows: a unique, non-null key. (Its columns and types
    are compared in polars, see ``PreparedSuite.table``: GX sees only scalar columns.)"""
    import great_expectations.expectations as gxe

    expectations: list[Expectation] = [
        gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{column} is set")
        for column in table.key
    ]
    if len(table.key) == 1:
        expectations.append(
            gxe.ExpectColumnValuesToBeUnique(
                column=table.key[0], description=f"one row per {table.key[0]}"
            )
        )
    elif table.key:
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(table.key), description=f"one row per {', '.join(table.key)}"
            )
        )
    return expectations


def books_suite(books: pl.DataFrame) -> PreparedSuite:
    """The declaration, known statuses, an error message on every failed file, ids set."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    expectations = [
        *table_expectations(BOOKS),
        gxe.ExpectColumnValuesToNotBeNull(column="book_id", description="every file has an id"),
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=list(BOOK_STATUSES), description="known status"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="error",
            description="a failed file says why",
            row_condition=Column("status") == "error",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="page_count",
            min_value=1,
            description="a readable book has pages",
            row_condition=Column("status") == "ok",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="grouping",
            value_set=list(BOOK_GROUPINGS),
            description="known grouping (file, folder, manifest, page_names)",
        ),
    ]
    return PreparedSuite(
        "books_schema", books, expectations, id_column="relative_path", table=BOOKS
    )


def pages_suite(pages: pl.DataFrame) -> PreparedSuite:
    """The declaration, known statuses, and an image with a size for every readable page."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    readable = Column("status") == "ok"
    expectations = [
        *table_expectations(PAGES),
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=list(PAGE_STATUSES), description="known status"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="path", description="a readable page has an image", row_condition=readable
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="width", min_value=1, description="width > 0", row_condition=readable
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="height", min_value=1, description="height > 0", row_condition=readable
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="error",
            description="a failed page says why",
            row_condition=Column("status") == "error",
        ),
    ]
    return PreparedSuite("pages_schema", pages, expectations, table=PAGES)


def page_text_suite(page_text: pl.DataFrame) -> PreparedSuite:
    """The declaration, costs and latencies not negative, a failed page says why."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    expectations = [
        *table_expectations(PAGE_TEXT),
        gxe.ExpectColumnValuesToBeBetween(column="cost_usd", min_value=0, description="cost >= 0"),
        gxe.ExpectColumnValuesToBeBetween(
            column="latency_s", min_value=0, description="latency >= 0"
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="error",
            description="a failed page says why",
            row_condition=Column("status") != "ok",
        ),
    ]
    return PreparedSuite("page_text_schema", page_text, expectations, table=PAGE_TEXT)


def page_types_suite(page_types: pl.DataFrame) -> PreparedSuite:
    """The declaration, known classes, probabilities in 0..1, the page inside its segment."""
    import great_expectations.expectations as gxe

    from comix_resources.page_classes import PAGE_CLASSES

    frame = page_types.with_columns(
        inside_segment=(pl.col("segment_start") <= pl.col("page_index"))
        & (pl.col("page_index") <= pl.col("segment_end"))
    )
    expectations = [
        *table_expectations(PAGE_TYPES),
        gxe.ExpectColumnValuesToBeInSet(
            column="page_type", value_set=list(PAGE_CLASSES), description="known page class"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="probability", min_value=0, max_value=1, description="probability in 0..1"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="inside_segment", value_set=[True], description="page inside its segment"
        ),
    ]
    return PreparedSuite("page_types_schema", frame, expectations, table=PAGE_TYPES)


def panels_schema_suite(
    panels: pl.DataFrame, pages: pl.DataFrame, tolerance_px: int = TOLERANCE_PX
) -> PreparedSuite:
    """Detections (the panels table) against their pages (``page_id``, ``width``, ``height``).

    Derived columns: ``bbox_len``, ``bbox_x/y/w/h``, ``page_width/height`` (null when the page
    is missing from ``pages``), ``x_overflow``/``y_overflow`` (pixels past the right/bottom
    edge) and ``panel_orders_contiguous`` (per page, panel orders are exactly 0..n-1; null
    for other categories).
    """
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    # Imported here: the detection package loads OpenCV, which the other suites do not need.
    from comix_resources.detection import CATEGORY_IDS

    # One size per page: a duplicated page row must not duplicate its detections.
    sizes = pages.select(
        "page_id", page_width=pl.col("width"), page_height=pl.col("height")
    ).unique("page_id", keep="first")
    bbox = pl.col("bbox")
    is_panel = pl.col("category") == "panel"
    # A null order sorts as -1, which no panel may have, so it breaks the sequence.
    orders_contiguous = (
        (pl.col("order").fill_null(-1).sort() == pl.int_range(pl.len())).all()
    ).over("page_id", "category")
    frame = (
        panels.with_columns(
            bbox_len=bbox.list.len().fill_null(0),
            bbox_x=bbox.list.get(0, null_on_oob=True),
            bbox_y=bbox.list.get(1, null_on_oob=True),
            bbox_w=bbox.list.get(2, null_on_oob=True),
            bbox_h=bbox.list.get(3, null_on_oob=True),
            panel_orders_contiguous=pl.when(is_panel).then(orders_contiguous),
        )
        .join(sizes, on="page_id", how="left", maintain_order="left")
        .with_columns(
            x_overflow=pl.col("bbox_x") + pl.col("bbox_w") - pl.col("page_width"),
            y_overflow=pl.col("bbox_y") + pl.col("bbox_h") - pl.col("page_height"),
        )
    )
    category = Column("category")
    expectations: list[Expectation] = [
        *table_expectations(PANELS),
        gxe.ExpectColumnValuesToNotBeNull(column="page_id", description="detection has a page"),
        gxe.ExpectColumnValuesToNotBeNull(
            column="page_width", description="page is in the pages table"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="category", value_set=list(CATEGORY_IDS), description="known category"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="bbox_len", value_set=[4], description="bbox is [x, y, w, h]"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="bbox_w", min_value=0, strict_min=True, description="width > 0"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="bbox_h", min_value=0, strict_min=True, description="height > 0"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="bbox_x", min_value=-tolerance_px, description=f"x >= 0 (±{tolerance_px} px)"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="bbox_y", min_value=-tolerance_px, description=f"y >= 0 (±{tolerance_px} px)"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="x_overflow",
            max_value=tolerance_px,
            description=f"x + w <= page width (±{tolerance_px} px)",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="y_overflow",
            max_value=tolerance_px,
            description=f"y + h <= page height (±{tolerance_px} px)",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="score", min_value=0, max_value=1, description="score in 0..1"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="panel_orders_contiguous",
            value_set=[True],
            description="panel orders are 0..n-1 per page",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="order",
            value_set=[-1],
            description="non-panels have order -1",
            row_condition=category != "panel",
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["page_id", "category", "order"],
            description="one panel per order and page",
            row_condition=category == "panel",
        ),
    ]
    return PreparedSuite("panels_schema", frame, expectations, table=PANELS)


def dataspec_schema_suite(
    dataspec: pl.DataFrame, tolerance_px: int = TOLERANCE_PX
) -> PreparedSuite:
    """One DataSpec row per page, counts and scores in range, panels inside the page.

    Derived columns: ``page_width``/``page_height`` (from ``page_size``), ``n_panels`` (length
    of ``panels``) and ``panel_overflow_px`` (how far the page's worst panel reaches past any
    edge; negative when all are inside, null without panels).
    """
    import great_expectations.expectations as gxe

    # Rows are numbered rather than keyed by page_id, which is what this suite doubts.
    rows = dataspec.with_row_index("_row").with_columns(
        page_width=pl.col("page_size").struct.field("width"),
        page_height=pl.col("page_size").struct.field("height"),
        n_panels=pl.col("panels").list.len(),
    )
    coords = pl.col("panel_coords")
    x, y, w, h = (coords.list.get(i, null_on_oob=True) for i in range(4))
    panel_rows = (
        rows.select("_row", "page_width", "page_height", "panels")
        .explode("panels")
        .with_columns(panel_coords=pl.col("panels").struct.field("panel_coords"))
        .group_by("_row")
        .agg(
            panel_overflow_px=pl.max_horizontal(
                -x, -y, x + w - pl.col("page_width"), y + h - pl.col("page_height")
            ).max()
        )
    )
    frame = rows.join(panel_rows, on="_row", how="left", maintain_order="left").drop("_row")
    expectations: list[Expectation] = [
        *table_expectations(DATASPEC),
        gxe.ExpectColumnValuesToNotBeNull(column="page_width", description="page size known"),
        gxe.ExpectColumnValuesToBeBetween(
            column="detector_panel_count", min_value=0, description="panel count >= 0"
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="detector_panel_count",
            column_B="n_panels",
            description="panel count = panels listed",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="text_panel_count", min_value=0, description="text panel count >= 0"
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_texts",
            column_B="n_texts_assigned",
            or_equal=True,
            description="assigned texts <= texts",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="quality_score", min_value=0, max_value=4, description="quality score 0..4"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="alignment_score",
            min_value=0,
            max_value=1,
            description="alignment score 0..1 (or null)",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="alignment_method",
            value_set=list(ALIGNMENT_METHODS),
            description="known alignment method",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="panel_overflow_px",
            max_value=tolerance_px,
            description=f"panels inside page_size (±{tolerance_px} px)",
        ),
    ]
    return PreparedSuite("dataspec_schema", frame, expectations, table=DATASPEC)


def dataspec_rates_suite(
    dataspec: pl.DataFrame,
    min_agreement_rate: float | None = None,
    min_aligned_rate: float | None = None,
    min_perfect_match_rate: float | None = None,
) -> PreparedSuite:
    """Partition-level rates as GX mean expectations over 0/1 columns; ``None`` skips a rate.

    - ``panel_count_agrees``: the text source and the detector agree on the page's panel
      count: ``is_perfect_match``, or ``panel_ratio`` (text / detector panels) within
      0.9..1.1, the band that earns the full panel-ratio points of ``quality_score``. It
      forgives one panel in ten, which OCR pages with a silent panel need.
    - ``aligned``: ``is_aligned``, the text-to-panel assignment training filters on.
    - ``perfect_match``: ``is_perfect_match`` (the original work reached 23.5 %).

    A null flag or ratio counts as "no". The observed value of each is the rate.
    """
    import great_expectations.expectations as gxe

    ratio = pl.col("panel_ratio")
    frame = dataspec.with_columns(
        panel_count_agrees=(
            pl.col("is_perfect_match").fill_null(False)
            | ratio.is_between(0.9, 1.1).fill_null(False)
        ).cast(pl.Int8),
        aligned=pl.col("is_aligned").fill_null(False).cast(pl.Int8),
        perfect_match=pl.col("is_perfect_match").fill_null(False).cast(pl.Int8),
    )
    rates = (
        ("panel_count_agrees", min_agreement_rate, "panel-count agreement rate"),
        ("aligned", min_aligned_rate, "aligned-page rate"),
        ("perfect_match", min_perfect_match_rate, "perfect-match rate"),
    )
    expectations: list[Expectation] = [
        gxe.ExpectColumnMeanToBeBetween(
            column=column, min_value=minimum, description=f"{label} >= {minimum:g}"
        )
        for column, minimum, label in rates
        if minimum is not None
    ]
    return PreparedSuite("dataspec_rates", frame, expectations)


def page_quality_suite(
    page_quality: pl.DataFrame, max_non_comic_fraction: float | None = None
) -> PreparedSuite:
    """One verdict per page, 0..1 features in range, and (optionally) the non-comic fraction.

    Derived column: ``non_comic`` (1 where ``is_comic`` is false). Feature ranges are checked
    for the ``UNIT_FEATURES`` the table has.
    """
    import great_expectations.expectations as gxe

    frame = page_quality.with_columns(
        non_comic=(~pl.col("is_comic")).cast(pl.Int8),
    )
    expectations: list[Expectation] = [
        *table_expectations(PAGE_QUALITY),
        gxe.ExpectColumnValuesToNotBeNull(column="is_comic", description="every page judged"),
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column=feature, min_value=0, max_value=1, description=f"{feature} in 0..1"
        )
        for feature in UNIT_FEATURES
        if feature in page_quality.columns
    ]
    if max_non_comic_fraction is not None:
        expectations.append(
            gxe.ExpectColumnMeanToBeBetween(
                column="non_comic",
                max_value=max_non_comic_fraction,
                description=f"non-comic fraction <= {max_non_comic_fraction:g}",
            )
        )
    return PreparedSuite("page_quality", frame, expectations, table=PAGE_QUALITY)
