"""Thin Dagster resources over the engines: they hold configuration and build the engines."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from comix_resources.fingerprints import FingerprintCache
from comix_resources.lake import Lake
from comix_resources.pages import ExtractionLimits
from comix_resources.settings import ComixSettings
from comix_resources.sources import CalibreSource, ComicSource, FolderTreeSource


class LakeResource(dg.ConfigurableResource):
    """Where every table and image lives: a local folder or any fsspec URL."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class ComicSourcesResource(dg.ConfigurableResource):
    """The three comic sources; an empty root means the source is not configured."""

    amazon_root: str = ""
    darkhorse_root: str = ""
    calibre_library: str = ""
    calibre_collection_by: str = "tag"
    cache_dir: str

    def source(self, name: str) -> ComicSource | None:
        if name == "calibre":
            if not self.calibre_library:
                return None
            return CalibreSource(Path(self.calibre_library), self.calibre_collection_by)
        root = {"amazon": self.amazon_root, "darkhorse": self.darkhorse_root}[name]
        return FolderTreeSource(name, Path(root)) if root else None

    def root_variable(self, name: str) -> str:
        return {
            "amazon": "COMIX_AMAZON_ROOT",
            "darkhorse": "COMIX_DARKHORSE_ROOT",
            "calibre": "COMIX_CALIBRE_LIBRARY",
        }[name]

    def fingerprints(self) -> FingerprintCache:
        return FingerprintCache(Path(self.cache_dir) / "fingerprints.sqlite")

    @classmethod
    def from_settings(cls, settings: ComixSettings) -> ComicSourcesResource:
        return cls(
            amazon_root=str(settings.amazon_root or ""),
            darkhorse_root=str(settings.darkhorse_root or ""),
            calibre_library=str(settings.calibre_library or ""),
            calibre_collection_by=settings.calibre_collection_by,
            cache_dir=str(settings.cache_dir),
        )


class PageExtractionResource(dg.ConfigurableResource):
    """Limits that protect the platform from hostile archives, and the PDF render DPI."""

    max_total_bytes: int = ExtractionLimits.max_total_bytes
    max_entry_bytes: int = ExtractionLimits.max_entry_bytes
    max_entries: int = ExtractionLimits.max_entries
    max_pixels: int = ExtractionLimits.max_pixels
    max_compression_ratio: float = ExtractionLimits.max_compression_ratio
    pdf_dpi: int = ExtractionLimits.pdf_dpi
    warn_failure_rate: float = 0.10

    def limits(self) -> ExtractionLimits:
        return ExtractionLimits(
            max_total_bytes=self.max_total_bytes,
            max_entry_bytes=self.max_entry_bytes,
            max_entries=self.max_entries,
            max_pixels=self.max_pixels,
            max_compression_ratio=self.max_compression_ratio,
            pdf_dpi=self.pdf_dpi,
        )
