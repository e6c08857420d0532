"""The search bundle: round trip, normalisation, validation, atomic replacement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from comix_resources.search.bundle import (
    SearchBundle,
    conform_catalog,
    split_panel_id,
    write_search_bundle,
)


class FakePredictor:
    def save(self, path: Path) -> None:
        path.mkdir(parents=True)
        (path / "config.json").write_text("{}")


def catalog(n: int = 6) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "page_id": [f"b{i // 3}-{i % 3:04d}" for i in range(n)],
            "book_id": [f"b{i // 3}" for i in range(n)],
            "source": ["amazon"] * n,
            "collection": ["c"] * n,
            "page_index": [i % 3 for i in range(n)],
            "image_path": [f"amazon/c/pages/b{i // 3}/{i % 3:04d}.png" for i in range(n)],
            "width": [100] * n,
            "height": [150] * n,
            "panels": [
                [{"slot": 0, "box": [0.0, 0.0, 50.0, 75.0], "order": 0, "text": f"word{i}"}]
                for i in range(n)
            ],
        }
    )


def write(directory: Path, frame: pl.DataFrame, **overrides: object) -> Path:
    rng = np.random.default_rng(0)
    ids = frame["page_id"].to_list()
    args: dict = dict(
        page_vectors=rng.standard_normal((len(ids), 8)) * 5,
        page_ids=ids,
        panel_vectors=rng.standard_normal((len(ids), 8)),
        panel_ids=[f"{p}:0" for p in ids],
        catalog=frame,
        model_dir_or_predictor=FakePredictor(),
        manifest={"model_name": "closure-lite", "model_version": "2"},
    )
    args.update(overrides)
    return write_search_bundle(directory, **args)


def test_round_trip_normalises_and_fills_defaults(tmp_path: Path) -> None:
    folder = write(tmp_path / "index", catalog())
    bundle = SearchBundle.load(folder)
    assert len(bundle.pages) == 6 and len(bundle.panels) == 6
    assert np.allclose(np.linalg.norm(bundle.pages.vectors, axis=1), 1.0, atol=1e-5)
    assert bundle.catalog["text"].to_list() == [f"word{i}" for i in range(6)]
    assert bundle.catalog["is_comic"].to_list() == [True] * 6  # default when absent
    assert bundle.catalog["page_type"].null_count() == 6
    assert bundle.manifest["model_version"] == "2" and bundle.manifest["pages"] == 6
    assert (bundle.model_dir / "config.json").is_file()
    found, scores = bundle.pages.search(bundle.pages.vectors[2], k=1)
    assert found[0, 0] == bundle.pages.ids[2] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_rewrite_swaps_the_whole_folder(tmp_path: Path) -> None:
    write(tmp_path / "index", catalog(6))
    write(tmp_path / "index", catalog(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no staging left over
    assert SearchBundle.load(tmp_path / "index").catalog.height == 3


def test_failed_write_keeps_the_previous_bundle(tmp_path: Path) -> None:
    write(tmp_path / "index", catalog(6))

    class Broken:
        def save(self, path: Path) -> None:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write(tmp_path / "index", catalog(3), model_dir_or_predictor=Broken())
    assert SearchBundle.load(tmp_path / "index").catalog.height == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("width"), "lacks columns"),
        (lambda f: f.with_columns(pl.lit("../../etc/passwd").alias("image_path")), "lake-relative"),
        (lambda f: f.with_columns(pl.lit("/etc/passwd").alias("image_path")), "lake-relative"),
        (lambda f: f.with_columns(pl.lit("x").alias("page_id")), "unique"),
    ],
)
def test_bad_catalogs_are_refused(change: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conform_catalog(change(catalog()))  # type: ignore[operator]


def test_ids_must_match_the_catalog(tmp_path: Path) -> None:
    frame = catalog()
    with pytest.raises(ValueError, match="not in the catalog"):
        write(tmp_path / "a", frame, page_ids=["nope", *frame["page_id"].to_list()[1:]])
    with pytest.raises(ValueError, match="<page_id>:<slot>"):
        write(tmp_path / "b", frame, panel_ids=["b0-0000"] * 6)
    assert split_panel_id("ab-0001:3") == ("ab-0001", 3)
    with pytest.raises(ValueError):
        split_panel_id("ab-0001:x")
