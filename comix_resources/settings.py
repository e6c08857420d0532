"""Environment contract of DESIGN.md: every variable optional, defaults relative to the cwd."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCES: tuple[str, ...] = ("amazon", "darkhorse", "calibre")


@dataclass(frozen=True)
class ComixSettings:
    home: Path
    amazon_root: Path | None
    darkhorse_root: Path | None
    calibre_library: Path | None
    calibre_collection_by: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ComixSettings:
        env = os.environ if environ is None else environ

        def optional_path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value).expanduser().resolve() if value else None

        return cls(
            home=Path(env.get("COMIX_HOME", "./.comix")).expanduser().resolve(),
            amazon_root=optional_path("COMIX_AMAZON_ROOT"),
            darkhorse_root=optional_path("COMIX_DARKHORSE_ROOT"),
            calibre_library=optional_path("COMIX_CALIBRE_LIBRARY"),
            calibre_collection_by=env.get("COMIX_CALIBRE_COLLECTION_BY", "tag").strip() or "tag",
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def source_root(self, source: str) -> Path | None:
        return {
            "amazon": self.amazon_root,
            "darkhorse": self.darkhorse_root,
            "calibre": self.calibre_library,
        }[source]
