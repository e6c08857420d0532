"""The Zarr embedding store: round trips, xarray, lineage, swap-in, independent partitions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from comix_resources.benchmarks.embeddings import run_store_benchmark, synthetic_partition
from comix_resources.embeddings import (
    ENCODINGS,
    dequantize,
    open_all,
    open_partition,
    quantize,
    write_partition,
)
from comix_resources.embeddings import store as store_module

PAGES = 40


@pytest.fixture(scope="module")
def partition() -> dict[str, Any]:
    return synthetic_partition(PAGES, seed=3)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_every_array(tmp_path: Path, partition: dict[str, Any], encoding: str) -> None:
    write_partition(tmp_path, **partition, encoding=encoding)
    stored = open_partition(tmp_path, "amazon", "demo")
    arrays, mask = partition["arrays"], partition["arrays"]["panel_mask"]

    assert len(stored) == PAGES and stored.encoding == encoding
    assert stored.ids == {**partition["ids"], "page_index": list(partition["ids"]["page_index"])}
    assert stored.text_content == partition["text_content"]
    np.testing.assert_array_equal(stored.panel_mask, mask)
    np.testing.assert_array_equal(stored.reading_order, arrays["reading_order"])
    np.testing.assert_array_equal(stored.panel_coordinates, arrays["panel_coordinates"])
    np.testing.assert_allclose(stored.attention_weights, arrays["attention_weights"], atol=1e-3)
    assert stored.page_embeddings.dtype == np.float32
    assert stored.panel_embeddings.shape == (PAGES, 12, 384)
    assert not stored.panel_embeddings[~mask].any()  # padded slots decode to zeros
    for got, want in [
        (stored.page_embeddings, arrays["page_embeddings"]),
        (stored.panel_embeddings[mask], arrays["panel_embeddings"][mask]),
    ]:
        if encoding.startswith("int"):
            assert _cosine(got, want).min() >= 0.99
        else:
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_quantize_handles_zero_vectors_and_bounds() -> None:
    vectors = np.array([[0.0, 0.0, 0.0], [0.5, -1.0, 0.25]], dtype=np.float32)
    codes, scales = quantize(vectors, bits=8)
    assert codes.dtype == np.int8 and scales[0] == 0 and codes[1].min() == -127
    np.testing.assert_allclose(dequantize(codes, scales), vectors, atol=1 / 254)
    assert quantize(vectors, bits=10)[0].dtype == np.int16
    with pytest.raises(ValueError):
        quantize(vectors, bits=1)


def test_xarray_opens_with_dimension_names(tmp_path: Path, partition: dict[str, Any]) -> None:
    path = write_partition(tmp_path, **partition, encoding="float16")
    assert path == str(tmp_path / "embeddings.zarr" / "amazon" / "demo")
    ds = xr.open_zarr(path)  # consolidated metadata: no fallback warning, no argument needed
    assert ds["page_embeddings"].dims == ("page", "embedding")
    assert ds["panel_embeddings"].dims == ("page", "panel", "embedding")
    assert ds["panel_coordinates"].dims == ("page", "panel", "coord")
    assert ds["text_content"].dims == ("page", "panel")
    assert ds["page_id"].dims == ("page",)
    assert dict(ds.sizes) == {"page": PAGES, "panel": 12, "embedding": 384, "coord": 4}
    assert list(ds["page_id"].values) == partition["ids"]["page_id"]
    assert ds["page_embeddings"].encoding["chunks"] == (PAGES, 384)
    assert xr.open_zarr(path, consolidated=False)["panel_mask"].dims == ("page", "panel")


def test_attrs_keep_lineage(tmp_path: Path, partition: dict[str, Any]) -> None:
    write_partition(tmp_path, **partition)
    attrs = open_partition(tmp_path, "amazon", "demo").attrs
    assert attrs["model_name"] == "closure_lite"
    assert attrs["model_version"] == "1"
    assert attrs["mlflow_run_id"] == "bench"
    assert attrs["encoding"] == "int9" and attrs["comix_complete"] is True


def test_crash_midway_leaves_old_group_readable(
    tmp_path: Path, partition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_partition(tmp_path, **partition)
    before = open_partition(tmp_path, "amazon", "demo").page_embeddings.copy()
    calls = {"n": 0}
    real_create = store_module._create

    def failing_create(group: zarr.Group, name: str, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # after some arrays of the new group are on disk
            raise RuntimeError("killed")
        real_create(group, name, *args)

    monkeypatch.setattr(store_module, "_create", failing_create)
    changed = {**partition, "arrays": {**partition["arrays"]}}
    changed["arrays"]["page_embeddings"] = -partition["arrays"]["page_embeddings"]
    with pytest.raises(RuntimeError, match="killed"):
        write_partition(tmp_path, **changed)

    np.testing.assert_array_equal(
        open_partition(tmp_path, "amazon", "demo").page_embeddings, before
    )
    assert os.listdir(tmp_path / "embeddings.zarr" / "amazon") == ["demo"]  # no staging left


def test_rewrite_replaces_group(tmp_path: Path, partition: dict[str, Any]) -> None:
    write_partition(tmp_path, **partition, encoding="float16")
    smaller = synthetic_partition(5, seed=9)
    write_partition(tmp_path, **smaller, encoding="int8")
    stored = open_partition(tmp_path, "amazon", "demo")
    assert len(stored) == 5 and stored.encoding == "int8"


def test_partitions_are_independent(tmp_path: Path) -> None:
    first = synthetic_partition(7, seed=1, source="amazon", collection="a")
    second = synthetic_partition(9, seed=2, source="calibre", collection="b")
    third = synthetic_partition(3, seed=4, source="amazon", collection="c")
    for part in (first, second, third):
        write_partition(tmp_path, **part)
    # Rewriting one leaves the others' files untouched.
    other = tmp_path / "embeddings.zarr" / "calibre" / "b"
    stamps = {p: p.stat().st_mtime_ns for p in other.rglob("*") if p.is_file()}
    write_partition(tmp_path, **synthetic_partition(2, seed=5, source="amazon", collection="a"))
    assert stamps == {p: p.stat().st_mtime_ns for p in other.rglob("*") if p.is_file()}

    found = {(p.source, p.collection): len(p) for p in open_all(tmp_path)}
    assert found == {("amazon", "a"): 2, ("amazon", "c"): 3, ("calibre", "b"): 9}
    np.testing.assert_allclose(
        open_partition(tmp_path, "calibre", "b").page_embeddings,
        second["arrays"]["page_embeddings"],
        atol=0.01,
    )


def test_open_all_skips_staging_and_missing(tmp_path: Path, partition: dict[str, Any]) -> None:
    assert list(open_all(tmp_path)) == []
    write_partition(tmp_path, **partition)
    (tmp_path / "embeddings.zarr" / "amazon" / ".tmp-abc-demo").mkdir()
    assert [p.collection for p in open_all(tmp_path)] == ["demo"]
    with pytest.raises(FileNotFoundError):
        open_partition(tmp_path, "amazon", "missing")


def test_empty_partition(tmp_path: Path) -> None:
    write_partition(tmp_path, **synthetic_partition(0, seed=1))
    stored = open_partition(tmp_path, "amazon", "demo")
    assert len(stored) == 0 and stored.page_embeddings.shape == (0, 384)


def test_rejects_bad_input(tmp_path: Path, partition: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="encoding"):
        write_partition(tmp_path, **partition, encoding="bf16")  # type: ignore[arg-type]
    bad = {**partition, "ids": {**partition["ids"], "page_id": ["x"]}}
    with pytest.raises(ValueError, match="page_id"):
        write_partition(tmp_path, **bad)


def test_store_benchmark_small() -> None:
    result = run_store_benchmark(pages=300, queries=20, verbose=False)
    rows = result["encodings"]
    assert rows["float32"]["recall_at_k"] == 1.0
    assert rows["int9"]["bytes_per_page"] < rows["float16"]["bytes_per_page"]
    assert rows["float16"]["bytes_per_page"] < rows["float32"]["bytes_per_page"] / 1.8
    assert rows["int8"]["min_cosine"] > 0.99


def test_rewrite_is_byte_identical(tmp_path: Path, partition: dict[str, Any]) -> None:
    def digest(root: Path) -> dict[str, bytes]:
        return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}

    write_partition(tmp_path / "a", **partition)
    write_partition(tmp_path / "b", **partition)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
