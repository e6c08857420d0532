"""The corpus map on synthetic embeddings whose groups are known.

Five groups of 384-d embeddings: three comic "styles" (Gaussian blobs), a "landscape" group
(double-page spreads) and a "dark" group; the page table says which pages are landscape or
dark, so the cluster table's shares can be checked against the truth.

One UMAP run is shared by the module (umap-learn compiles numba code on first use, several
seconds per process), hence the module fixture and the ``slow`` marks on what uses it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

from comix_resources.analysis import (
    NOISE,
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

GROUPS = ("style_a", "style_b", "style_c", "landscape", "dark")
PER_GROUP = 40


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GROUPS), 384)) * 3.0
    truth = np.repeat(np.arange(len(GROUPS)), PER_GROUP)
    embeddings = (centres[truth] + rng.normal(size=(len(truth), 384))).astype(np.float32)
    group = np.array(GROUPS)[truth]
    pages = pl.DataFrame(
        {
            "page_id": [f"book{i // 10:03d}-{i % 10:04d}" for i in range(len(truth))],
            # style_a is all amazon, style_b all darkhorse, the rest mixed.
            "source": [
                "amazon" if g == "style_a" else "darkhorse" if g == "style_b" else src
                for g, src in zip(
                    group, rng.choice(["amazon", "darkhorse", "calibre"], len(truth)), strict=True
                )
            ],
            "aspect_ratio": np.where(group == "landscape", 1.45, 0.66),
            "mean_brightness": np.where(group == "dark", 0.05, 0.7),
            # Half of style_c is text-heavy (a text-story group inside a style).
            "text_area_fraction": np.where(
                (group == "style_c") & (np.arange(len(truth)) % 2 == 0), 0.3, 0.05
            ),
            "is_comic": group != "dark",
        }
    )
    return embeddings, truth, pages


@pytest.fixture(scope="module")
def mapped() -> dict[str, Any]:
    embeddings, truth, pages = _synthetic()
    coords = compute_map(embeddings, seed=7)
    labels = cluster(coords, method="hdbscan")
    return {
        "embeddings": embeddings,
        "truth": truth,
        "pages": pages,
        "coords": coords,
        "labels": labels,
    }


@pytest.mark.slow
def test_hdbscan_on_the_map_recovers_the_groups(mapped: dict[str, Any]) -> None:
    from sklearn.metrics import adjusted_rand_score

    assert mapped["coords"].shape == (len(mapped["truth"]), 2)
    assert mapped["coords"].dtype == np.float32
    assert adjusted_rand_score(mapped["truth"], mapped["labels"]) >= 0.8
    assert label_counts(mapped["labels"])["clusters"] == len(GROUPS)


def test_kmeans_on_embeddings_recovers_the_groups() -> None:
    from sklearn.metrics import adjusted_rand_score

    embeddings, truth, _ = _synthetic()
    labels = cluster(embeddings, method="kmeans", n_clusters=len(GROUPS))
    assert adjusted_rand_score(truth, labels) >= 0.8
    assert np.array_equal(labels, cluster(embeddings, method="kmeans", n_clusters=len(GROUPS)))


@pytest.mark.slow
def test_cluster_table_shares(mapped: dict[str, Any]) -> None:
    pages: pl.DataFrame = mapped["pages"]
    table = cluster_table(mapped["labels"], pages, coords=mapped["coords"], examples=4)
    assert table["size"].sum() == pages.height
    assert table["share_of_pages"].sum() == pytest.approx(1.0)
    # Each true group maps to the cluster holding most of its pages.
    group_of = {}
    for g, name in enumerate(GROUPS):
        members = mapped["labels"][mapped["truth"] == g]
        group_of[name] = int(np.bincount(members[members != NOISE]).argmax())
    rows = {row["cluster"]: row for row in table.iter_rows(named=True)}
    landscape = rows[group_of["landscape"]]
    assert landscape["share_landscape"] == pytest.approx(1.0)
    assert landscape["share_dark"] == pytest.approx(0.0)
    dark = rows[group_of["dark"]]
    assert dark["share_dark"] == pytest.approx(1.0)
    assert dark["share_non_comic"] == pytest.approx(1.0)
    assert rows[group_of["style_c"]]["share_text_heavy"] == pytest.approx(0.5, abs=0.1)
    a = rows[group_of["style_a"]]
    assert (a["dominant_source"], a["dominant_source_share"]) == ("amazon", 1.0)
    assert rows[group_of["style_b"]]["dominant_source"] == "darkhorse"
    # Examples are members of their cluster, nearest its centre first.
    for row in rows.values():
        assert 1 <= len(row["example_page_ids"]) <= 4
        member_ids = set(pages["page_id"].filter(pl.Series(mapped["labels"] == row["cluster"])))
        assert set(row["example_page_ids"]) <= member_ids


def test_cluster_table_with_missing_columns_and_noise() -> None:
    pages = pl.DataFrame(
        {"page_id": ["p0", "p1", "p2", "p3"], "source": ["amazon", "amazon", "calibre", "x"]}
    )
    table = cluster_table(np.array([0, 0, NOISE, 1]), pages)
    assert table["cluster"].to_list() == [0, 1, NOISE]  # noise last
    assert table["share_landscape"].null_count() == table.height
    assert table.row(0, named=True)["example_page_ids"] == ["p0", "p1"]
    with pytest.raises(ValueError, match="labels"):
        cluster_table(np.array([0]), pages)


def test_page_kind_masks_prefer_is_spread() -> None:
    pages = pl.DataFrame(
        {
            "page_id": ["a", "b"],
            "source": ["amazon", "amazon"],
            "is_spread": [True, False],
            "aspect_ratio": [0.5, 2.0],
        }
    )
    masks = page_kind_masks(pages)
    assert masks["landscape"].tolist() == [True, False]
    assert set(masks) == {"landscape"}


@pytest.mark.slow
def test_map_is_deterministic(mapped: dict[str, Any]) -> None:
    again = compute_map(mapped["embeddings"], seed=7)
    assert np.array_equal(again, mapped["coords"])
    assert np.array_equal(cluster(again), mapped["labels"])


@pytest.mark.slow
def test_scatter_and_ablation_pngs_decode(mapped: dict[str, Any]) -> None:
    highlight = page_kind_masks(mapped["pages"])
    png = scatter_png(mapped["coords"], mapped["labels"], "corpus map", highlight=highlight)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (900, 700)
    # Vision-only ablation: another map of the same pages, coloured by the full map's labels.
    vision = mapped["coords"] * np.array([-1.0, 1.0], dtype=np.float32)
    pair = compare_png({"full": mapped["coords"], "vision only": vision}, mapped["labels"])
    with Image.open(io.BytesIO(pair)) as image:
        assert image.size == (1800, 700)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9])
def test_tiny_corpora_fall_back_to_pca(n: int) -> None:
    embeddings = np.random.default_rng(n).normal(size=(n, 16)).astype(np.float32)
    assert map_method(n) == "pca"
    coords = compute_map(embeddings)
    assert coords.shape == (n, 2)
    assert np.isfinite(coords).all()
    labels = cluster(coords)
    assert labels.shape == (n,)
    if n:
        png = scatter_png(coords, labels, f"{n} pages")
        assert Image.open(io.BytesIO(png)).size == (900, 700)


def test_pca_fallback_keeps_the_main_axis() -> None:
    # Points on a line in 16-d: the first map axis orders them, the second is flat.
    direction = np.random.default_rng(0).normal(size=16)
    embeddings = np.outer(np.arange(6, dtype=np.float32), direction).astype(np.float32)
    coords = compute_map(embeddings)
    assert np.all(np.diff(coords[:, 0]) != 0)
    assert np.allclose(coords[:, 1], 0, atol=1e-4)
    assert np.array_equal(coords, compute_map(embeddings))


def test_bad_embeddings_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        compute_map(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        compute_map(np.full((20, 3), np.nan))
    with pytest.raises(ValueError, match="unknown cluster method"):
        cluster(np.zeros((3, 2)), method="dbscan")  # type: ignore[arg-type]


def test_cluster_thumbnails_reuse_the_preview_grid() -> None:
    def page_png(colour: tuple[int, int, int]) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (60, 90), colour).save(buffer, format="PNG")
        return buffer.getvalue()

    images = {"p0": page_png((200, 0, 0)), "p1": page_png((0, 200, 0))}

    def read(page_id: str) -> bytes | None:
        if page_id == "broken":
            raise OSError("gone")
        return images.get(page_id)

    table = pl.DataFrame(
        {"cluster": [0, 1], "example_page_ids": [["p0", "p1", "broken"], ["missing"]]},
        schema={"cluster": pl.Int64, "example_page_ids": pl.List(pl.String)},
    )
    strips = cluster_thumbnails(table, read, thumb_height=50)
    assert strips[1] is None
    assert strips[0] is not None
    with Image.open(io.BytesIO(strips[0])) as strip:
        assert strip.height == 50 + 2 * 4
