"""Build the configured source for a name from the settings (DESIGN.md "Contracts")."""

from __future__ import annotations

from comix_resources.settings import SOURCES, ComixSettings
from comix_resources.sources.calibre import CalibreSource
from comix_resources.sources.folder_tree import FolderTreeSource
from comix_resources.sources.model import ComicSource


def make_source(name: str, settings: ComixSettings) -> ComicSource | None:
    """The source called `name`, or None when its root is not configured.

    Raises ValueError for an unknown source name or an invalid COMIX_CALIBRE_COLLECTION_BY.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    root = settings.source_root(name)
    if root is None:
        return None
    if name == "calibre":
        return CalibreSource(root, settings.calibre_collection_by)
    return FolderTreeSource(name, root)
