"""Nearest-neighbour search over embeddings (plain Python, no Dagster): see ``index``."""

from comix_resources.search.index import AUTO_EXACT_MAX, VectorIndex, build_index

__all__ = ["AUTO_EXACT_MAX", "VectorIndex", "build_index"]
