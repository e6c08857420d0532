"""Book reader engine: turn a comic file (PDF, CBZ/CBR/CB7/CBT, EPUB, Dark Horse app download,
image folder, loose pages grouped by name) into pages.

Plain Python, no Dagster. Page bytes are never re-encoded: archive members and PDF page images
come out exactly as stored; only PDF pages that are not a single full-page image are rendered.
"""

from comix_resources.pages.app_manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES
from comix_resources.pages.detect import detect_container
from comix_resources.pages.limits import BookInspection, ExtractionLimits, PageImage
from comix_resources.pages.reader import inspect_book, iter_pages

__all__ = [
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "BookInspection",
    "ExtractionLimits",
    "PageImage",
    "detect_container",
    "inspect_book",
    "iter_pages",
]
