"""A small search bundle over real page images in a temporary lake, and the app over it.

60 pages (2 sources x 2 collections x 3 books x 5 pages), 4 framed panels each, with panel
text that keyword tests can find. Page vectors cluster by book (book centre + noise), so
"more like this" has a right answer: pages of the same book. The model is a randomly
initialised Closure Lite with the default configuration, so the real encoders fit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageDraw

from comix_resources.search.bundle import write_search_bundle

DIM = 384
PAGE_W, PAGE_H = 300, 450
BOXES = [(15, 15, 125, 200), (160, 15, 125, 200), (15, 235, 125, 200), (160, 235, 125, 200)]
WORDS = ["dragon", "castle", "robot", "ocean", "forest", "rocket", "ghost", "pirate"]


@dataclass
class Corpus:
    lake: Path
    bundle: Path
    catalog: pl.DataFrame
    page_vectors: np.ndarray
    page_ids: list[str]
    panel_vectors: np.ndarray
    panel_ids: list[str]
    sample_image: Path  # a page image file to upload


def draw_page(seed: int) -> Image.Image:
    """A white page with four black-framed panels holding a few filled shapes."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    draw = ImageDraw.Draw(image)
    for x, y, w, h in BOXES:
        draw.rectangle((x, y, x + w, y + h), outline="black", width=4)
        for _ in range(3):
            cx, cy = x + rng.integers(20, w - 20), y + rng.integers(20, h - 20)
            r = int(rng.integers(6, 18))
            colour = tuple(int(c) for c in rng.integers(0, 200, 3))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return image


def build_corpus(root: Path, seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    lake = root / "lake"
    rows, page_vectors, page_ids, panel_vectors, panel_ids = [], [], [], [], []
    n = 0
    for source in ("amazon", "calibre"):
        for c in range(2):
            collection = f"{source}-coll-{c}"
            for b in range(3):
                book = f"{source[:2]}{c}{b}" + "a" * 10
                centre = rng.standard_normal(DIM)
                for p in range(5):
                    page_id = f"{book}-{p:04d}"
                    rel = f"{source}/{collection}/pages/{book}/{p:04d}.png"
                    (lake / rel).parent.mkdir(parents=True, exist_ok=True)
                    draw_page(n).save(lake / rel)
                    panels = []
                    for slot, box in enumerate(BOXES):
                        word = WORDS[(n + slot) % len(WORDS)]
                        text = f"the {word} appears on page {n}" if slot != 3 else ""
                        # Slots listed in a different order than reading order on purpose.
                        panels.append(
                            {
                                "slot": slot,
                                "box": list(map(float, box)),
                                "order": slot,
                                "text": text,
                            }
                        )
                        panel_ids.append(f"{page_id}:{slot}")
                        panel_vectors.append(centre + 0.6 * rng.standard_normal(DIM))
                    rows.append(
                        {
                            "page_id": page_id,
                            "book_id": book,
                            "source": source,
                            "collection": collection,
                            "page_index": p,
                            "image_path": rel,
                            "width": PAGE_W,
                            "height": PAGE_H,
                            "page_type": None if p == 4 else ("cover" if p == 0 else "story"),
                            "is_comic": p != 3,
                            "panels": panels,
                        }
                    )
                    page_ids.append(page_id)
                    page_vectors.append(centre + 0.3 * rng.standard_normal(DIM))
                    n += 1
    catalog = pl.DataFrame(rows)
    pages = np.asarray(page_vectors, np.float32) * 3.0  # not unit length: the writer normalises
    panels = np.asarray(panel_vectors, np.float32)
    return Corpus(
        lake=lake,
        bundle=lake / "index",
        catalog=catalog,
        page_vectors=pages,
        page_ids=page_ids,
        panel_vectors=panels,
        panel_ids=panel_ids,
        sample_image=lake / rows[7]["image_path"],
    )


def random_predictor(seed: int = 0):
    import torch

    from comix_resources.closure_lite.config import ClosureLiteConfig
    from comix_resources.closure_lite.inference import ClosureLitePredictor
    from comix_resources.closure_lite.model import ClosureLite

    torch.manual_seed(seed)
    return ClosureLitePredictor(ClosureLite(ClosureLiteConfig()))


MANIFEST = {
    "model_name": "closure-lite",
    "model_version": "3",
    "mlflow_run_id": "abc123",
    "mlflow_experiment_id": "1",
    "variant": "base",
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    corpus = build_corpus(tmp_path_factory.mktemp("webapp"))
    write_search_bundle(
        corpus.bundle,
        page_vectors=corpus.page_vectors,
        page_ids=corpus.page_ids,
        panel_vectors=corpus.panel_vectors,
        panel_ids=corpus.panel_ids,
        catalog=corpus.catalog,
        model_dir_or_predictor=random_predictor(),
        manifest=MANIFEST,
    )
    # The corpus map: cluster = book number within its collection (0..2).
    frame = corpus.catalog.select(
        "page_id",
        pl.lit(0.5, pl.Float32).alias("x"),
        pl.lit(0.25, pl.Float32).alias("y"),
        pl.col("book_id").str.slice(3, 1).cast(pl.Int32).alias("cluster"),
    )
    (corpus.lake / "analysis").mkdir(parents=True, exist_ok=True)
    frame.write_parquet(corpus.lake / "analysis" / "embedding_map.parquet")
    return corpus


@pytest.fixture(scope="session")
def query_encoder(corpus: Corpus):
    """The real offline encoders (a few seconds, once) around the bundle's random model."""
    import torch

    from comix_resources.closure_lite.query import QueryEncoder

    torch.set_num_threads(1)  # the machine's two cores are shared with other workers
    return QueryEncoder.from_model_dir(corpus.bundle / "model")


@pytest.fixture(scope="session")
def client(corpus: Corpus, query_encoder, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from fastapi.testclient import TestClient

    from comix_resources.webapp.app import WebSettings, create_app

    settings = WebSettings(
        dagster_url="http://dagster.test:3000/",
        mlflow_url="http://mlflow.test:5000",
        cache_dir=tmp_path_factory.mktemp("thumbs"),
        max_upload_bytes=2 * 1024**2,
        max_upload_pixels=2_000_000,
        allowed_hosts=("testserver",),  # TestClient's Host
    )
    app = create_app(corpus.bundle, corpus.lake, settings, query_encoder=query_encoder)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
