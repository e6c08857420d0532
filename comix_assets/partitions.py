"""One dynamic partitions definition per source: its collections, keyed by UI-safe slugs."""

from __future__ import annotations

import dagster as dg

from comix_resources.sources.registry import SOURCES

COLLECTION_PARTITIONS: dict[str, dg.DynamicPartitionsDefinition] = {
    source: dg.DynamicPartitionsDefinition(name=f"{source}_collections") for source in SOURCES
}
