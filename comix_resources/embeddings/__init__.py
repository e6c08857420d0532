"""The Zarr v3 embedding store (plain Python, no Dagster): see ``store`` for the layout."""

from comix_resources.embeddings.store import (
    DEFAULT_ENCODING,
    ENCODINGS,
    STORE_NAME,
    EmbeddingPartition,
    dequantize,
    encoding_bits,
    open_all,
    open_partition,
    partition_path,
    quantize,
    write_partition,
)

__all__ = [
    "DEFAULT_ENCODING",
    "ENCODINGS",
    "STORE_NAME",
    "EmbeddingPartition",
    "dequantize",
    "encoding_bits",
    "open_all",
    "open_partition",
    "partition_path",
    "quantize",
    "write_partition",
]
