"""Per-source embeddings: every page and panel of a collection through the champion model."""

import dagster as dg

from comix_assets.common import OWNERS
from comix_assets.partitions import COLLECTION_PARTITIONS
from comix_resources.closure_lite.inference import embed_pages, page_records
from comix_resources.closure_lite.registry import load_embedding_model
from comix_resources.embeddings import DEFAULT_ENCODING, partition_path, write_partition
from comix_resources.resources import ClosureLiteResource, LakeResource, MlflowResource
from comix_resources.sources.registry import source_spec
from comix_resources.stack.placement import GPU_POOL, GPU_STEP_TAGS
from comix_resources.tables import DATASPEC, PAGE_TYPES, with_page_types


def build_embeddings_asset(source: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=[source, "embeddings"],
        deps=[
            dg.AssetDep([source, DATASPEC.name]),
            dg.AssetDep([source, PAGE_TYPES.name]),
            dg.AssetDep("closure_lite", partition_mapping=dg.AllPartitionMapping()),
        ],
        partitions_def=COLLECTION_PARTITIONS[source],
        group_name=source,
        kinds={"pytorch", "zarr"},
        pool=GPU_POOL,
        op_tags=GPU_STEP_TAGS,  # the `gpu` Celery queue
        owners=OWNERS,
        description=f"Page and panel embeddings of one {source_spec(source).title} collection from "
        "the `champion` of `closure-lite-<variant>` (COMIX_EMBEDDING_VARIANT, default "
        "context-denoise; if that variant has no champion, the richest one that has, with a "
        "warning): a Zarr v3 group at `embeddings.zarr/<source>/<collection>/` with "
        "page_embeddings (N, 384), panel_embeddings (N, 12, 384), attention_weights, "
        "reading_order, panel_coordinates, panel_mask, text_content and the page ids, "
        "named dimensions (xarray opens it), int9 codes with per-vector scales, zstd, ~1,000 "
        "pages a chunk. Pages without panels are embedded as one whole-page panel. Written "
        "beside the old group and swapped in, so a crash leaves the old one readable.",
    )
    def embeddings(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        model: ClosureLiteResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        key = context.partition_key
        table = with_page_types(
            DATASPEC.read(store, source, key), PAGE_TYPES.read_if_exists(store, source, key)
        )
        try:
            champion = load_embedding_model(mlflow.tracker(), model.embedding_variant)
        except LookupError as error:
            raise dg.Failure(str(error)) from error
        variant = champion.predictor.config.variant
        if variant != model.embedding_variant:
            context.log.warning(
                f"closure-lite-{model.embedding_variant} has no champion; embedding with "
                f"{champion.name} v{champion.version} instead"
            )
        # A fine-tuned champion brings its own vision encoder (and its own cache entries).
        vision = champion.predictor.vision_encoder(model.device)
        features = model.encode(store, table, whole_page=True, vision_encoder=vision)
        arrays = embed_pages(champion.predictor.model, features)
        ids, texts = page_records(table, whole_page=True)
        url = write_partition(
            store.url(store.root),
            source,
            key,
            arrays,
            ids,
            texts,
            attrs={**champion.lineage, "dagster_run_id": context.run.run_id},
        )
        size = int(store.fs.du(partition_path(store, source, key)))
        pages = len(features)
        return dg.MaterializeResult(
            metadata={
                "pages": pages,
                "panels": int(features.mask.sum()),
                "bytes": size,
                "bytes_per_page": round(size / max(1, pages), 1),
                "encoding": DEFAULT_ENCODING,
                "model": champion.name,
                "variant": variant,
                "preferred_variant": model.embedding_variant,
                "model_version": champion.version,
                "model_version_link": dg.MetadataValue.url(champion.model_version_url),
                "path": dg.MetadataValue.path(url),
            }
        )

    return embeddings
