"""Cross-source search assets: the nearest-neighbour index and the corpus map."""

import dagster as dg
import numpy as np
import polars as pl

from comix_assets.common import OWNERS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.analysis import (
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
from comix_resources.closure_lite.registry import load_model
from comix_resources.embeddings import EmbeddingPartition, open_all
from comix_resources.lake import Lake
from comix_resources.previews import markdown_image, markdown_table
from comix_resources.resources import ClosureLiteResource, LakeResource, MlflowResource
from comix_resources.search.bundle import MANIFEST, write_search_bundle
from comix_resources.search.catalog import corpus_catalog
from comix_resources.sources.registry import SOURCES
from comix_resources.tables import (
    ANALYSIS,
    CLUSTERS,
    DATASPEC,
    EMBEDDING_MAP,
    PAGE_QUALITY,
    PAGES,
    SEARCH_INDEX,
)

EMBEDDINGS_DEPS = [
    dg.AssetDep([source, "embeddings"], partition_mapping=dg.AllPartitionMapping())
    for source in SOURCES
]
QUALITY_COLUMNS = ("page_id", "is_comic", "is_spread", "mean_brightness", "text_area_fraction")


def _partitions(context: dg.AssetExecutionContext, lake: Lake) -> list[EmbeddingPartition]:
    """The embedded partitions the instance has now: every collection, every shard of a split
    one, and not the groups of keys it dropped (a collection before it was split)."""
    current = {
        (source, key)
        for source in SOURCES
        for key in context.instance.get_dynamic_partitions(COLLECTION_PARTITIONS[source].name)
    }
    partitions = [p for p in open_all(lake.url(lake.root)) if p.partition in current]
    if not partitions:
        raise dg.Failure("no embeddings yet: materialize <source>/embeddings first")
    return partitions


def _one_model(partitions: list[EmbeddingPartition]) -> dict:
    """The lineage all partitions share; vectors of two model versions are not comparable."""
    by_model: dict[tuple, list[str]] = {}
    for part in partitions:
        key = (part.attrs.get("model_name"), part.attrs.get("model_version"))
        by_model.setdefault(key, []).append("/".join(part.partition))
    if len(by_model) > 1:
        newest = max(by_model, key=lambda k: (str(k[0]), int(k[1] or 0)))
        stale = sorted(p for k, names in by_model.items() if k != newest for p in names)
        raise dg.Failure(
            f"embeddings come from {len(by_model)} model versions; re-materialize "
            f"<source>/embeddings for {', '.join(stale)} (newest: {newest[0]} v{newest[1]})",
            metadata={"models": str(by_model)},
        )
    first = partitions[0].attrs
    keys = ("model_name", "model_version", "mlflow_run_id", "mlflow_experiment_id", "variant")
    return {k: first.get(k) for k in keys}


@dg.asset(
    key="embedding_index",
    deps=EMBEDDINGS_DEPS,
    group_name="search",
    kinds={"usearch", "parquet"},
    owners=OWNERS,
    description="Nearest-neighbour indexes over every page and every panel embedding of all "
    "sources (exact inner-product search up to 100K vectors, usearch HNSW above while a "
    "build-time check finds 90 % of the exact top 10), with the id "
    "mapping, a page catalog (ids, image path, panels with reading order and text, page type, "
    "comic flag) and the model that made the vectors: the search page's bundle at `index/`.",
)
def embedding_index(
    context: dg.AssetExecutionContext, lake: LakeResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    store = lake.lake()
    partitions = _partitions(context, store)
    lineage = _one_model(partitions)
    page_ids = [p for part in partitions for p in part.ids["page_id"]]
    panel_vectors, panel_ids = [], []
    for part in partitions:
        pages, slots = np.nonzero(part.panel_mask)
        panel_vectors.append(part.panel_embeddings[pages, slots])
        ids = part.ids["page_id"]
        panel_ids += [f"{ids[p]}:{s}" for p, s in zip(pages.tolist(), slots.tolist(), strict=True)]
    catalog = corpus_catalog(store, [p.partition for p in partitions])
    model = load_model(mlflow.tracker(), lineage["variant"], int(lineage["model_version"]))
    index_path = SEARCH_INDEX.path(store)
    write_search_bundle(
        store.url(index_path),
        page_vectors=np.concatenate([p.page_embeddings for p in partitions]),
        page_ids=page_ids,
        panel_vectors=np.concatenate(panel_vectors),
        panel_ids=panel_ids,
        catalog=catalog,
        model_dir_or_predictor=model.predictor,
        manifest={**lineage, "dagster_run_id": context.run.run_id},
    )
    manifest = store.read_json(f"{index_path}/{MANIFEST}")
    return dg.MaterializeResult(
        metadata={
            "pages": len(page_ids),
            "panels": len(panel_ids),
            "page_index": _index_summary(manifest, "page"),
            "panel_index": _index_summary(manifest, "panel"),
            "partitions": len(partitions),
            "model": f"{lineage['model_name']} v{lineage['model_version']}",
            "model_version_link": dg.MetadataValue.url(model.model_version_url),
            "path": dg.MetadataValue.path(store.url(index_path)),
            "serve": "comix serve",
        }
    )


def _index_summary(manifest: dict, name: str) -> str:
    kind = manifest[f"{name}_index_kind"]
    if kind == "exact":
        return "exact search"
    recall = manifest[f"{name}_index_recall_at_10"]
    return f"{kind} HNSW, recall@10 {recall:.3f} against exact search (build check)"


def _page_kinds(lake: Lake, partitions: list[EmbeddingPartition]) -> pl.DataFrame:
    """page_id, source and the page_quality columns that name page kinds, in store order."""
    frames = []
    for part in partitions:
        ids = pl.DataFrame({"page_id": part.ids["page_id"], "source": part.ids["source"]})
        quality = PAGE_QUALITY.read_if_exists(lake, *part.partition)
        if quality is not None:
            columns = [c for c in QUALITY_COLUMNS if c in quality.columns]
            ids = ids.join(quality.select(columns), on="page_id", how="left", maintain_order="left")
        frames.append(ids)
    return pl.concat(frames, how="diagonal_relaxed")


def _vision_only(
    lake: Lake, model: ClosureLiteResource, partitions: list[EmbeddingPartition]
) -> np.ndarray:
    """Per page, the mean of its panels' frozen EfficientNet-Lite0 features: the ablation
    without text, layout or anything learned (encoder outputs come from the feature cache)."""
    vectors = []
    for part in partitions:
        table = DATASPEC.read(lake, *part.partition)
        order = {page_id: i for i, page_id in enumerate(table["page_id"].to_list())}
        table = table[[order[p] for p in part.ids["page_id"]]]
        features = model.encode(lake, table, whole_page=True)
        weights = features.mask[..., None].astype(np.float32)
        mean = (features.vision * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
        vectors.append(mean)
    return np.concatenate(vectors)


@dg.asset(
    key="embedding_map",
    deps=EMBEDDINGS_DEPS,
    group_name="search",
    kinds={"umap", "parquet"},
    owners=OWNERS,
    description="The corpus map: UMAP 2-D of every page embedding (PCA below 10 pages), HDBSCAN "
    "clusters, a scatter plot with landscape, dark and non-comic pages ringed, and a table per "
    "cluster (size, dominant source, shares of landscape, dark, text-heavy and non-comic pages, "
    "example thumbnails). Beside it the vision-only ablation: the same pages mapped from the "
    "frozen vision encoder alone, coloured by the model's clusters. Lake: `analysis/`.",
)
def embedding_map(
    context: dg.AssetExecutionContext, lake: LakeResource, model: ClosureLiteResource
) -> dg.MaterializeResult:
    from sklearn.metrics import adjusted_rand_score

    store = lake.lake()
    partitions = _partitions(context, store)
    vectors = np.concatenate([p.page_embeddings for p in partitions])
    pages = _page_kinds(store, partitions)
    coords = compute_map(vectors, seed=model.seed)
    labels = cluster(coords, seed=model.seed)
    vision_coords = compute_map(_vision_only(store, model, partitions), seed=model.seed)
    vision_labels = cluster(vision_coords, seed=model.seed)
    table = cluster_table(labels, pages, coords)
    highlight = page_kind_masks(pages)
    plot = scatter_png(coords, labels, "Closure Lite page embeddings", highlight)
    ablation = compare_png(
        {"Closure Lite": coords, "vision only (frozen EfficientNet-Lite0)": vision_coords},
        labels,
        highlight,
    )
    EMBEDDING_MAP.write(
        store,
        pages.select("page_id").with_columns(
            pl.Series("x", coords[:, 0]),
            pl.Series("y", coords[:, 1]),
            pl.Series("cluster", labels, dtype=pl.Int32),
            pl.Series("vision_x", vision_coords[:, 0]),
            pl.Series("vision_y", vision_coords[:, 1]),
            pl.Series("vision_cluster", vision_labels, dtype=pl.Int32),
        ),
    )
    store.write_parquet(CLUSTERS.path(store), table)
    store.write_bytes(store.path(ANALYSIS.file, "embedding_map.png"), plot)
    store.write_bytes(store.path(ANALYSIS.file, "embedding_map_vision_only.png"), ablation)

    images = {
        row["page_id"]: row["image_path"]
        for part in partitions
        for row in PAGES.read(store, *part.partition)
        .select("page_id", pl.col("path").alias("image_path"))
        .iter_rows(named=True)
    }
    strips = cluster_thumbnails(table, lambda p: store.read_bytes(store.path(images[p])))
    examples = "\n\n".join(
        f"**cluster {label}**\n\n{markdown_image(png, f'cluster {label}')}"
        for label, png in strips.items()
    )
    return dg.MaterializeResult(
        metadata={
            "pages": len(vectors),
            **label_counts(labels),
            "method": map_method(len(vectors)),
            "vision_only_clusters": label_counts(vision_labels)["clusters"],
            "adjusted_rand_vs_vision_only": float(adjusted_rand_score(labels, vision_labels)),
            "map": dg.MetadataValue.md(markdown_image(plot, "corpus map")),
            "vision_only_ablation": dg.MetadataValue.md(markdown_image(ablation, "ablation")),
            "cluster_table": dg.MetadataValue.md(
                markdown_table(table.drop("example_page_ids"), limit=50)
            ),
            "cluster_examples": dg.MetadataValue.md(examples),
            "path": dg.MetadataValue.path(store.url(ANALYSIS.path(store))),
        }
    )
