"""Cross-source analysis of the corpus: the embedding map (UMAP, clusters, table, plot).

Light to import: umap, sklearn and matplotlib load inside the functions that use them.
"""

from comix_resources.analysis.corpus_map import (
    NOISE,
    PageKindThresholds,
    cluster,
    cluster_table,
    cluster_thumbnails,
    compare_png,
    compute_map,
    label_counts,
    map_method,
    page_kind_masks,
    scatter_png,
)

__all__ = [
    "NOISE",
    "PageKindThresholds",
    "cluster",
    "cluster_table",
    "cluster_thumbnails",
    "compare_png",
    "compute_map",
    "label_counts",
    "map_method",
    "page_kind_masks",
    "scatter_png",
]
