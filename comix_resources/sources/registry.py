"""The comic sources, each declared once: name, title, root variable and reader.

Settings, resources, assets, the web app and tests read sources from here; adding a source is
one ``SourceSpec`` (and, for a new layout, its reader in this package).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from comix_resources.sources.model import ComicSource

Layout = Literal["folder_tree", "calibre"]


@dataclass(frozen=True)
class SourceSpec:
    """One source: ``name`` is its asset-key prefix, group and partitions prefix."""

    name: str
    title: str
    root_variable: str
    layout: Layout
    collections_are: str  # what a collection is, for the README and the UI

    def open(
        self, root: Path, calibre_collection_by: str = "tag", page_name_pattern: str = ""
    ) -> ComicSource:
        """The reader of this source over ``root``; ``page_name_pattern`` groups a folder
        tree's loose pages ("": the built-in pattern)."""
        if self.layout == "calibre":
            from comix_resources.sources.calibre import CalibreSource

            return CalibreSource(root, calibre_collection_by)
        from comix_resources.sources.folder_tree import FolderTreeSource

        return FolderTreeSource(self.name, root, page_name_pattern or None)


SOURCE_SPECS: tuple[SourceSpec, ...] = (
    SourceSpec(
        "amazon",
        "Amazon/Comixology",
        "COMIX_AMAZON_ROOT",
        "folder_tree",
        "folder tree; a collection is a first-level folder, books are comic files below it",
    ),
    SourceSpec(
        "darkhorse",
        "Dark Horse",
        "COMIX_DARKHORSE_ROOT",
        "folder_tree",
        "folder tree, same layout as Amazon",
    ),
    SourceSpec(
        "calibre",
        "Calibre library (Humble Bundle, DriveThruComics)",
        "COMIX_CALIBRE_LIBRARY",
        "calibre",
        "a Calibre library folder (with `metadata.db`); collections by "
        "`COMIX_CALIBRE_COLLECTION_BY`",
    ),
)
SOURCES: tuple[str, ...] = tuple(spec.name for spec in SOURCE_SPECS)
_BY_NAME = {spec.name: spec for spec in SOURCE_SPECS}


def source_spec(name: str) -> SourceSpec:
    """The declared source called ``name``; ValueError for an unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}") from None
