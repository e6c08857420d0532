"""Encoding with stub encoders, the model, training, the predictor and the page_types table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from comix_resources.encoders import FeatureCache
from comix_resources.page_classes import PAGE_CLASSES
from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.page_stream.features import BookFeatures, book_scalars, encode_books
from comix_resources.page_stream.inference import (
    PageStreamPredictor,
    page_types_table,
    predict_books,
    segments_table,
)
from comix_resources.page_stream.metrics import evaluate_books
from comix_resources.page_stream.model import PageStreamModel
from comix_resources.page_stream.rules import RulePredictor
from comix_resources.page_stream.train import batch_tensors, class_weights, split_books, train

VISION_DIM, TEXT_DIM = 12, 8
PLAN = [
    "cover",
    "first-page",
    "story",
    "story",
    "story",
    "advertisement",
    "textstory",
    "back_cover",
]


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


class StubEncoder:
    """Deterministic vectors from the input; counts what it was asked to encode."""

    def __init__(self, name: str, dim: int) -> None:
        self.id, self.dim, self.calls = name, dim, 0

    def encode(self, items: Sequence[Any]) -> np.ndarray:
        self.calls += len(items)
        out = []
        for item in items:
            seed = (
                sum(np.asarray(item).ravel()[:64].tolist())
                if isinstance(item, Image.Image)
                else len(item)
            )
            out.append(np.random.default_rng(int(seed)).normal(size=self.dim))
        return np.asarray(out, np.float32)


def test_encode_books_caches_by_sha256_and_text(tmp_path: Path) -> None:
    loads: list[str] = []

    def loader(path: str) -> Image.Image:
        loads.append(path)
        return Image.new("RGB", (20, 30), (int(path[-1]) * 40, 0, 0))

    rows = [
        {
            "page_id": f"b-{i:04d}",
            "book_id": "b",
            "page_index": i,
            "path": f"pages/b/{i}",
            "sha256": f"s{i}",
            "text": t,
        }
        for i, t in enumerate(["HELLO", "", "HELLO"])
    ]
    vision, text = StubEncoder("v", VISION_DIM), StubEncoder("t", TEXT_DIM)
    cache = FeatureCache(tmp_path / "cache.sqlite")
    (book,) = encode_books(rows, loader, vision, text, cache)
    assert book.vision is not None and book.text is not None
    assert book.vision.shape == (3, VISION_DIM) and book.text.shape == (3, TEXT_DIM)
    assert vision.calls == 3 and text.calls == 1  # one distinct text
    assert not book.text[1].any()  # no text: zero vector
    np.testing.assert_array_equal(book.text[0], book.text[2])
    # Second run: everything from the cache, and no image is even loaded.
    loads.clear()
    (again,) = encode_books(rows, loader, vision, text, cache)
    assert loads == [] and vision.calls == 3 and text.calls == 1
    np.testing.assert_array_equal(again.vision, book.vision)
    # Without sha256 the pixels are the key: two identical images are encoded once.
    plain = [{k: v for k, v in r.items() if k != "sha256"} for r in rows[:2]]
    plain[1]["path"] = "pages/c/0"  # same pixels as pages/b/0
    encode_books(plain, loader, vision, text, None)
    assert vision.calls == 4


def synthetic_books(n_books: int, seed: int) -> list[BookFeatures]:
    """Books following PLAN with small variations; each class has its own image direction, so
    the classes are learnable from vision, while the scalars say nothing about content."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(len(PAGE_CLASSES), VISION_DIM)) * 3
    books = []
    for b in range(n_books):
        plan = list(PLAN)
        extra = int(rng.integers(0, 3))
        plan[2:2] = ["story"] * extra
        n = len(plan)
        rows = [{"page_id": f"k{b}-{i:04d}", "book_id": f"k{b}", "page_index": i} for i in range(n)]
        vision = np.stack([centres[PAGE_CLASSES.index(c)] for c in plan]) + 0.5 * rng.normal(
            size=(n, VISION_DIM)
        )
        books.append(
            BookFeatures(
                book_id=f"k{b}",
                page_ids=[r["page_id"] for r in rows],
                page_indices=list(range(n)),
                scalars=book_scalars(rows),
                vision=vision.astype(np.float32),
                text=rng.normal(size=(n, TEXT_DIM)).astype(np.float32),
                labels=list(plan),
                group=f"g{b}",
            )
        )
    return books


def small_config(**changes: Any) -> PageStreamConfig:
    base = {"hidden_dim": 32, "num_heads": 2, "num_layers": 1, "max_epochs": 40, "patience": 5}
    return PageStreamConfig(**(base | changes))


@pytest.mark.parametrize("fusion", ["concat", "interleave"])
def test_model_logits_shape_and_padding_does_not_leak(fusion: str) -> None:
    config = small_config(fusion=fusion, vision_dim=VISION_DIM, text_dim=TEXT_DIM, dropout=0.0)
    model = PageStreamModel(config).eval()
    books = synthetic_books(2, seed=1)
    batch = batch_tensors(books, config.classes, config.max_pages)
    logits = model(batch["vision"], batch["text"], batch["scalars"], batch["mask"])
    assert logits.shape == (2, batch["mask"].shape[1], len(PAGE_CLASSES))
    # A book alone gives the same logits as the same book padded in a batch.
    alone = batch_tensors(books[:1], config.classes, config.max_pages)
    single = model(alone["vision"], alone["text"], alone["scalars"], alone["mask"])
    n = len(books[0])
    torch.testing.assert_close(single[0, :n], logits[0, :n], atol=1e-5, rtol=1e-4)


def test_batch_tensors_mark_unknown_and_padding_with_minus_one() -> None:
    books = synthetic_books(2, seed=3)
    books[0].labels[1] = None
    batch = batch_tensors(books, PAGE_CLASSES, 512)
    assert batch["labels"][0, 1] == -1
    assert batch["labels"][0, 0] == PAGE_CLASSES.index("cover")
    short = min(len(b) for b in books)
    i = int(np.argmin([len(b) for b in books]))
    assert not batch["mask"][i, short:].any() and (batch["labels"][i, short:] == -1).all()


def test_split_books_keeps_groups_together() -> None:
    books = synthetic_books(6, seed=0)
    for b in books:
        b.group = "even" if int(b.book_id[1:]) % 2 == 0 else "odd"
    first, second = split_books(books, 0.5, seed=0)
    assert len({books[i].group for i in first}) == 1
    assert {books[i].group for i in first}.isdisjoint({books[i].group for i in second})
    assert sorted(first + second) == list(range(6))


def test_class_weights_favour_rare_classes() -> None:
    w = class_weights(synthetic_books(3, seed=0), PAGE_CLASSES)
    assert w[PAGE_CLASSES.index("cover")] > w[PAGE_CLASSES.index("story")]
    assert w[PAGE_CLASSES.index("art")] == 0  # never seen


def test_training_learns_held_out_books_and_predictor_round_trips(tmp_path: Path) -> None:
    books = synthetic_books(8, seed=0)
    held_out = synthetic_books(4, seed=99)
    epochs: list[int] = []
    result = train(
        books,
        small_config(max_epochs=20, learning_rate=3e-3),
        seed=0,
        on_epoch=lambda e, m: epochs.append(e),
    )
    assert epochs == list(range(len(result.history)))
    assert result.config.vision_dim == VISION_DIM and result.config.scalar_dim == 11
    assert set(result.train_books).isdisjoint(result.val_books)
    assert result.history[result.best_epoch]["val_loss"] == result.best_val_loss
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

    predictor = PageStreamPredictor(result.model())
    predictions = predict_books(predictor, held_out)
    report = evaluate_books(
        [(b.labels, p.labels) for b, p in zip(held_out, predictions, strict=True)]
    )
    # Story pages, the majority class, are under half of the pages.
    assert report["accuracy"] > 0.9
    assert report["pq"] > 0.7
    np.testing.assert_allclose(predictions[0].probabilities.sum(1), 1.0, rtol=1e-5)

    predictor.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "state_dict.pt",
    ]
    loaded = PageStreamPredictor.load(tmp_path / "model")
    labels, probs = loaded.predict(held_out[0])
    assert labels == predictions[0].labels
    np.testing.assert_allclose(probs, predictions[0].probabilities, rtol=1e-5, atol=1e-6)


def test_train_needs_two_groups_and_encoded_books() -> None:
    books = synthetic_books(2, seed=0)
    for b in books:
        b.group = "same"
    with pytest.raises(ValueError, match="both sides"):
        train(books, small_config(max_epochs=1))
    books = synthetic_books(2, seed=0)
    books[0].vision = None
    with pytest.raises(ValueError, match="encoded"):
        train(books, small_config(max_epochs=1))


def test_long_books_are_read_in_windows() -> None:
    config = small_config(vision_dim=VISION_DIM, text_dim=TEXT_DIM, max_pages=4)
    predictor = PageStreamPredictor(PageStreamModel(config))
    book = synthetic_books(1, seed=0)[0]
    labels, probs = predictor.predict(book)
    assert len(labels) == len(book) and probs.shape == (len(book), len(PAGE_CLASSES))


def test_page_types_and_segments_tables() -> None:
    books = synthetic_books(2, seed=5)
    predictions = predict_books(RulePredictor(), books)
    # Rules see no content here: force known labels to check the table's bookkeeping.
    predictions[0].labels = list(books[0].labels)
    table = page_types_table(predictions)
    assert table.height == sum(len(b) for b in books)
    assert table["page_id"].to_list() == sorted(table["page_id"].to_list())
    first = table.filter(table["book_id"] == books[0].book_id).sort("page_index")
    assert first["page_type"].to_list() == books[0].labels
    story = first.filter(first["page_type"] == "first-page").row(0, named=True)
    n_story = books[0].labels.count("story")
    assert (story["segment_type"], story["segment_start"], story["segment_end"]) == (
        "story",
        1,
        1 + n_story,
    )
    assert set(first["method"].to_list()) == {"rules"}
    assert first["probabilities"].struct.fields == list(PAGE_CLASSES)
    segs = segments_table(predictions[:1])
    assert segs["segment_type"].to_list() == [
        "cover",
        "story",
        "advertisement",
        "textstory",
        "back_cover",
    ]
    assert segs["pages"].sum() == len(books[0])


def test_empty_page_types_table_keeps_its_schema(tmp_path: Path) -> None:
    table = page_types_table([])
    assert table.height == 0
    assert table.schema["probabilities"].fields[0].name == PAGE_CLASSES[0]  # type: ignore[union-attr]
    table.write_parquet(tmp_path / "page_types.parquet")
