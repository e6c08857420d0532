"""The corpus map: a 2-D UMAP of page embeddings, its clusters, a table and a scatter plot.

The point is to see at a glance what the corpus is made of (the original CoMix map had a
"landscape ribbon" of double-page spreads and a group of non-comic pages), so every cluster
gets the shares of the page kinds that explain it, and the plot can ring those kinds.

Plain numpy/polars in, plain values out: the ``embedding_map`` asset reads embeddings and
``page_quality`` rows, calls these functions and writes PNG and table to the lake and metadata.
umap, sklearn and matplotlib are imported inside the functions that need them (they cost
seconds, and ``dagster dev`` should load the code location quickly).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

logger = logging.getLogger(__name__)

NOISE = -1
# Below this many points UMAP's nearest-neighbour graph and spectral layout are meaningless
# (and umap-learn warns or fails), so the map is a PCA projection instead.
MIN_UMAP_POINTS = 10

ClusterMethod = Literal["hdbscan", "kmeans"]


@dataclass(frozen=True)
class PageKindThresholds:
    """What makes a page landscape, dark or text-heavy in the cluster table.

    The same cut-offs as the data-quality filter's defaults (``spread_min_aspect``,
    ``very_dark_max_brightness``, ``text_page_min_text_area``), repeated here rather than
    imported because engines do not import each other's internals; the asset may pass the
    configured ones.
    """

    landscape_min_aspect: float = 1.2
    dark_max_brightness: float = 0.15
    text_heavy_min_area: float = 0.2


def map_method(n_points: int) -> str:
    """``"umap"`` or ``"pca"``: what :func:`compute_map` uses for this many points."""
    return "umap" if n_points >= MIN_UMAP_POINTS else "pca"


def compute_map(
    embeddings: np.ndarray,
    seed: int = 7,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    exact_knn_max_points: int = 50_000,
) -> np.ndarray:
    """2-D coordinates (N, 2, float32) for N embeddings; deterministic for a given seed.

    ``metric="cosine"`` because page embeddings are compared by cosine everywhere else (the
    search index). A fixed ``random_state`` makes umap-learn run single-threaded: slower, but
    re-materializing gives the same map (measured in tests/analysis: about 3 s for 150 pages
    and about 30-40 s for 10,000 pages of 384 dimensions on 2 cores).
    """
    data = np.asarray(embeddings, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (N, D), got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("embeddings contain NaN or infinite values")
    n = data.shape[0]
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if map_method(n) == "pca":
        logger.warning("%d points are too few for UMAP; the map is a PCA projection", n)
        return _pca_2d(data)

    import umap

    # UMAP needs n_neighbors < N; a small corpus gets a more local map, which is fine.
    k = max(2, min(n_neighbors, n - 1))
    precomputed = (None, None, None)
    if n <= exact_knn_max_points:
        # Exact neighbours from scikit-learn instead of umap's own search: the same neighbours
        # (umap is exact below 4,096 points too), but umap's search is numba code compiled on
        # every process start (about 10 s on 2 cores), while sklearn's brute force takes well
        # under a second for 10,000 x 384. Past the limit the quadratic cost wins and umap's
        # approximate NN-descent takes over.
        from sklearn.neighbors import NearestNeighbors

        search = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(data)
        distances, indices = search.kneighbors(data)  # each point is its own first neighbour
        precomputed = (indices.astype(np.int32), distances.astype(np.float32), None)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=k,
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        precomputed_knn=precomputed,
        # The spectral initialisation can fail on tiny disconnected graphs; umap-learn then
        # falls back to random itself, with a warning.
        init="spectral",
    )
    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": single-threaded is the point.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return np.asarray(reducer.fit_transform(data), dtype=np.float32)


def _pca_2d(data: np.ndarray) -> np.ndarray:
    """PCA to two components, zero-padded when N or D allows fewer (one page, one dimension)."""
    out = np.zeros((data.shape[0], 2), dtype=np.float32)
    centred = data - data.mean(axis=0, keepdims=True)
    if data.shape[0] < 2 or not centred.any():
        return out
    # SVD directly: sklearn's PCA would do the same, and this has no solver choice to pin.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = min(2, vt.shape[0])
    projected = centred @ vt[:components].T
    # Fix the sign of each axis so the map does not flip between BLAS builds.
    signs = np.sign(projected[np.abs(projected).argmax(axis=0), range(components)])
    out[:, :components] = projected * np.where(signs == 0, 1, signs)
    return out


def cluster(
    points: np.ndarray,
    method: ClusterMethod = "hdbscan",
    min_cluster_size: int | None = None,
    n_clusters: int = 8,
    seed: int = 7,
) -> np.ndarray:
    """Cluster labels (N, int64) for map coordinates (or raw embeddings); noise is -1.

    HDBSCAN finds clusters of any shape and leaves outliers out, which suits a UMAP map whose
    groups are ribbons and islands; KMeans is there for a fixed number of groups. The default
    ``min_cluster_size`` grows with the corpus (1 % of the pages, at least 5) so a 10,000-page
    map does not split into hundreds of specks.
    """
    data = np.asarray(points, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        k = max(1, min(n_clusters, n))
        model = KMeans(n_clusters=k, n_init=10, random_state=seed)
        return model.fit_predict(data).astype(np.int64)
    if method != "hdbscan":
        raise ValueError(f"unknown cluster method {method!r} (hdbscan or kmeans)")
    size = min_cluster_size or max(5, round(0.01 * n))
    if n < 2 * size:  # not enough points for two clusters: call it one group
        return np.zeros(n, dtype=np.int64)
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=size, copy=True).fit_predict(data).astype(np.int64)


def _page_kind_masks(
    pages: pl.DataFrame, thresholds: PageKindThresholds
) -> dict[str, pl.Series | None]:
    """Boolean series per page kind, None where the table lacks the columns to tell."""
    columns = set(pages.columns)
    if "is_spread" in columns:
        landscape = pages["is_spread"].fill_null(False)
    elif "aspect_ratio" in columns:
        landscape = pages["aspect_ratio"] >= thresholds.landscape_min_aspect
    elif "orientation" in columns:
        landscape = pages["orientation"] == "landscape"
    else:
        landscape = None
    dark = (
        pages["mean_brightness"] <= thresholds.dark_max_brightness
        if "mean_brightness" in columns
        else None
    )
    text_heavy = (
        pages["text_area_fraction"] >= thresholds.text_heavy_min_area
        if "text_area_fraction" in columns
        else None
    )
    non_comic = ~pages["is_comic"].fill_null(True) if "is_comic" in columns else None
    return {
        "landscape": landscape,
        "dark": dark,
        "text_heavy": text_heavy,
        "non_comic": non_comic,
    }


def page_kind_masks(
    pages: pl.DataFrame, thresholds: PageKindThresholds | None = None
) -> dict[str, np.ndarray]:
    """The page kinds as numpy masks, for ``scatter_png(highlight=...)``; unknown kinds left out."""
    masks = _page_kind_masks(pages, thresholds or PageKindThresholds())
    return {k: v.fill_null(False).to_numpy() for k, v in masks.items() if v is not None}


def cluster_table(
    labels: np.ndarray,
    pages: pl.DataFrame,
    coords: np.ndarray | None = None,
    thresholds: PageKindThresholds | None = None,
    examples: int = 6,
) -> pl.DataFrame:
    """One row per cluster (noise last): what the cluster is made of.

    ``pages`` is aligned with ``labels`` (row i is point i) and has ``page_id`` and ``source``,
    plus any of ``is_spread``/``aspect_ratio``/``orientation``, ``mean_brightness``,
    ``text_area_fraction``, ``is_comic`` (the ``page_quality`` columns); a share whose columns
    are missing is null. ``example_page_ids`` are the pages nearest the cluster's centre on the
    map when ``coords`` is given (typical members, for the thumbnail strip), else the first.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != pages.height:
        raise ValueError(f"{len(labels)} labels for {pages.height} pages")
    thresholds = thresholds or PageKindThresholds()
    kinds = _page_kind_masks(pages, thresholds)
    frame = pages.select("page_id", "source").with_columns(
        pl.Series("cluster", labels),
        *(
            (mask.cast(pl.Float64) if mask is not None else pl.lit(None, pl.Float64)).alias(kind)
            for kind, mask in kinds.items()
        ),
    )
    total = max(1, len(labels))
    rows = []
    for label in sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c)):
        index = np.flatnonzero(labels == label)
        members = frame[index]
        sources = members["source"].value_counts(sort=True)
        top_source, top_count = sources.row(0) if sources.height else (None, 0)
        if coords is not None and label != NOISE:
            centre = coords[index].mean(axis=0)
            order = np.argsort(((coords[index] - centre) ** 2).sum(axis=1), kind="stable")
            chosen = index[order[:examples]]
        else:
            chosen = index[:examples]
        rows.append(
            {
                "cluster": int(label),
                "size": len(index),
                "share_of_pages": len(index) / total,
                "dominant_source": top_source,
                "dominant_source_share": top_count / len(index),
                **{f"share_{kind}": members[kind].mean() for kind in kinds},
                "example_page_ids": [str(p) for p in pages["page_id"].gather(chosen)],
            }
        )
    schema = {
        "cluster": pl.Int64,
        "size": pl.Int64,
        "share_of_pages": pl.Float64,
        "dominant_source": pl.String,
        "dominant_source_share": pl.Float64,
        **{f"share_{kind}": pl.Float64 for kind in kinds},
        "example_page_ids": pl.List(pl.String),
    }
    return pl.DataFrame(rows, schema=schema)


def cluster_thumbnails(
    table: pl.DataFrame,
    read_image: Callable[[str], bytes | None],
    per_cluster: int = 6,
    thumb_height: int = 90,
) -> dict[int, bytes | None]:
    """A thumbnail strip (PNG) per cluster from its ``example_page_ids``.

    ``read_image`` maps a page id to its image bytes (the asset reads the lake); a page it
    cannot read is skipped, so a missing file never fails the map.
    """
    from comix_resources.previews import thumbnail_grid_png

    strips: dict[int, bytes | None] = {}
    for label, page_ids in table.select("cluster", "example_page_ids").iter_rows():
        images = []
        for page_id in page_ids[:per_cluster]:
            try:
                data = read_image(page_id)
            except Exception:  # a preview never fails a materialization
                data = None
            if data:
                images.append(data)
        strips[int(label)] = thumbnail_grid_png(
            images, columns=per_cluster, thumb_height=thumb_height
        )
    return strips


def _draw_map(
    axes: object,
    coords: np.ndarray,
    labels: np.ndarray,
    title: str,
    highlight: Mapping[str, np.ndarray] | None,
    legend: bool,
) -> None:
    import matplotlib as mpl

    ax = axes  # a matplotlib Axes (typed loosely: matplotlib stays an inner import)
    clusters = sorted(c for c in set(labels.tolist()) if c != NOISE)
    palette = mpl.colormaps["tab20"]
    # Small markers for large maps so 10,000 pages still show structure, not a blob.
    size = float(np.clip(3000 / max(1, len(coords)), 2, 30))
    noise = labels == NOISE
    if noise.any():
        ax.scatter(*coords[noise].T, s=size, c="#bbbbbb", label="noise", linewidths=0)
    for i, label in enumerate(clusters):
        member = labels == label
        ax.scatter(*coords[member].T, s=size, color=palette(i % 20), label=str(label), linewidths=0)
        cx, cy = np.median(coords[member], axis=0)
        ax.annotate(str(label), (cx, cy), fontsize=9, weight="bold", ha="center", va="center")
    # Page kinds as rings on top, so a "landscape ribbon" shows whatever its cluster colour.
    ring_colours = ("black", "crimson", "darkorange", "royalblue", "green")
    # Each kind a larger ring than the last, so a page that is both dark and non-comic shows
    # both rings instead of the second hiding the first.
    kinds = list((highlight or {}).items())
    for ring, (colour, (name, mask)) in enumerate(zip(ring_colours, kinds, strict=False)):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            ax.scatter(
                *coords[mask].T,
                s=size * (2.5 + 2.0 * ring),
                facecolors="none",
                edgecolors=colour,
                linewidths=0.8,
                label=f"{name} ({int(mask.sum())})",
            )
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        handles, names = ax.get_legend_handles_labels()
        if len(handles) > 24:  # many clusters: keep noise and the rings, numbers are on the map
            keep = [i for i, n in enumerate(names) if not n.isdigit()]
            handles, names = [handles[i] for i in keep], [names[i] for i in keep]
        ax.legend(handles, names, fontsize=7, markerscale=1.5, loc="best", framealpha=0.8)


def scatter_png(
    coords: np.ndarray,
    labels: np.ndarray,
    title: str,
    highlight: Mapping[str, np.ndarray] | None = None,
    size_px: tuple[int, int] = (900, 700),
) -> bytes:
    """The map as a PNG: points coloured by cluster (noise grey), cluster ids at their medians,
    and each ``highlight`` mask (for example landscape, dark, non-comic) as rings."""
    return compare_png({title: coords}, labels, highlight, size_px=size_px)


def compare_png(
    maps: Mapping[str, np.ndarray],
    labels: np.ndarray,
    highlight: Mapping[str, np.ndarray] | None = None,
    size_px: tuple[int, int] = (900, 700),
) -> bytes:
    """Several maps of the same pages side by side, coloured by the same labels.

    For the vision-only ablation: colour both maps by the full model's clusters, and a cluster
    that stays together without the text branch is a visual group, one that scatters was held
    together by text.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display on a Dagster worker
    from matplotlib.figure import Figure

    labels = np.asarray(labels, dtype=np.int64)
    dpi = 100
    width = size_px[0] * len(maps)
    # Figure() rather than pyplot: no global figure registry to leak in a long-lived process.
    figure = Figure(figsize=(width / dpi, size_px[1] / dpi), dpi=dpi)
    axes = figure.subplots(1, len(maps), squeeze=False)[0]
    for i, (ax, (title, coords)) in enumerate(zip(axes, maps.items(), strict=True)):
        coords = np.asarray(coords, dtype=np.float32)
        if len(coords) != len(labels):
            raise ValueError(f"map {title!r} has {len(coords)} points for {len(labels)} labels")
        _draw_map(ax, coords, labels, title, highlight, legend=i == 0)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def label_counts(labels: Sequence[int] | np.ndarray) -> dict[str, int]:
    """Counts for metadata: clusters (without noise) and noise points."""
    array = np.asarray(labels)
    return {
        "clusters": len(set(array[array != NOISE].tolist())),
        "noise_pages": int((array == NOISE).sum()),
    }
