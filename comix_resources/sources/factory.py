"""Build the configured source for a name from the settings (DESIGN.md "Contracts")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from comix_resources.sources.model import ComicSource
from comix_resources.sources.registry import source_spec

if TYPE_CHECKING:
    from comix_resources.settings import ComixSettings


def make_source(name: str, settings: ComixSettings) -> ComicSource | None:
    """The source called `name`, or None when its root is not configured.

    Raises ValueError for an unknown source name or an invalid COMIX_CALIBRE_COLLECTION_BY.
    """
    spec = source_spec(name)
    root = settings.source_root(name)
    if root is None:
        return None
    return spec.open(root, settings.calibre_collection_by, settings.page_name_pattern)
