"""A synthetic, deterministic comics library for demos and tests (plain Python, no Dagster).

``generate_demo_library(out_dir, seed)`` writes ``amazon/`` and ``darkhorse/`` folder trees
and a ``calibre/`` Calibre library, with a ``.truth.json`` ground-truth file beside every
book. Modules: ``layouts`` (split trees and reading order), ``drawing`` (pages and truth),
``style`` (each book's look, cast and vocabulary), ``corpus`` (words and sentences),
``writers`` (PDF/CBZ/CB7/CBT), ``calibre`` (metadata.db).
"""

from comix_resources.demo.library import (
    CATALOG,
    BookPlan,
    DemoSummary,
    SourceSummary,
    demo_book_id,
    demo_book_pages,
    demo_truth_books,
    generate_demo_library,
)

__all__ = [
    "CATALOG",
    "BookPlan",
    "DemoSummary",
    "SourceSummary",
    "demo_book_id",
    "demo_book_pages",
    "demo_truth_books",
    "generate_demo_library",
]
