"""The page-stream model through MLflow: labels from the lake, the gate, the champion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from comix_resources.page_stream import predict_books
from comix_resources.page_stream.registry import (
    MODEL_NAME,
    attach_labels,
    book_labels,
    load_champion,
    packed_inputs,
    train_and_register,
)
from comix_resources.tracking import Tracker, sqlite_tracking_uri
from tests.page_stream.test_model import small_config, synthetic_books


def test_labels_come_from_the_split_file_first_then_truth_files(tmp_path: Path) -> None:
    truth_book = tmp_path / "a.cbz"
    truth_book.write_bytes(b"")
    Path(f"{truth_book}.truth.json").write_text(
        json.dumps(
            {
                "pages": [
                    {"page_index": 1, "page_type": "story"},
                    {"page_index": 0, "page_type": "cover"},
                ]
            }
        )
    )
    books = pl.DataFrame(
        {"book_id": ["A", "B", "C"], "path": [str(truth_book), str(tmp_path / "b.cbz"), None]}
    )
    labels = book_labels(books, {"B": ["cover", "text-story", "nonsense"]})
    assert labels == {"A": ["cover", "story"], "B": ["cover", "textstory", None]}
    rows = attach_labels(
        [
            {"book_id": "A", "page_index": 1},
            {"book_id": "A", "page_index": 5},
            {"book_id": "C", "page_index": 0},
        ],
        labels,
    )
    assert [r["label"] for r in rows] == ["story", None, None]


@pytest.mark.slow
def test_a_learnable_model_is_registered_gated_and_loads_back(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    tracker = Tracker(
        sqlite_tracking_uri(tmp_path / "mlflow.db"), tmp_path / "mlartifacts", "page-stream"
    )
    assert load_champion(tracker) is None
    books = synthetic_books(12, seed=1)
    outcome = train_and_register(books, small_config(), tracker, seed=0)
    assert outcome.version.version == 1 and outcome.val_books >= 2
    assert outcome.passed_gate, outcome.gate_reasons
    assert outcome.model_metrics["macro_f1"] >= outcome.rule_metrics["macro_f1"]
    assert outcome.promoted and outcome.champion_version == 1
    run = tracker.client.get_run(outcome.version.run_id)
    assert run.data.metrics["val_macro_f1"] == pytest.approx(outcome.model_metrics["macro_f1"])
    assert "rules_macro_f1" in run.data.metrics and "val_f1_story" in run.data.metrics

    loaded = load_champion(tracker)
    assert loaded is not None and loaded[1] == 1

    # The same data again (a rerun, or a run after a kill): the version is reused as it was.
    again = train_and_register(books, small_config(), tracker, seed=0)
    assert again.version.version == 1 and again.version.run_id == outcome.version.run_id
    assert again.model_metrics == outcome.model_metrics and not again.promoted
    assert "reused" in again.promotion_reason
    assert len(tracker.client.search_model_versions(f"name = '{MODEL_NAME}'")) == 1
    [ours] = predict_books(loaded[0], books[:1])
    assert len(ours.labels) == len(books[0])

    # The registered (exported) model gives the same logits as the predictor's model.
    exported = tracker.load_champion(MODEL_NAME)
    packed = torch.as_tensor(packed_inputs(books[0]))
    with torch.no_grad():
        logits = exported(packed)
        direct = loaded[0].model(
            torch.as_tensor(books[0].vision)[None],
            torch.as_tensor(books[0].text)[None],
            torch.as_tensor(books[0].scalars)[None],
            torch.ones(1, len(books[0]), dtype=torch.bool),
        )
    np.testing.assert_allclose(logits.numpy(), direct.numpy(), atol=1e-4)
    assert logits.shape == (1, len(books[0]), 9)


@pytest.mark.slow
def test_a_model_worse_than_the_rules_never_becomes_champion(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    tracker = Tracker(
        sqlite_tracking_uri(tmp_path / "mlflow.db"), tmp_path / "mlartifacts", "page-stream"
    )
    books = synthetic_books(8, seed=2)
    for book in books:  # content says nothing: images and text are noise, scalars zeroed
        book.vision = np.random.default_rng(0).normal(size=book.vision.shape).astype(np.float32)
        book.scalars = np.zeros_like(book.scalars)
    outcome = train_and_register(books, small_config(max_epochs=2), tracker, seed=0)
    assert not outcome.passed_gate and outcome.gate_reasons
    assert not outcome.promoted and load_champion(tracker) is None


def test_comicinfo_page_types_reach_the_page_stream_labels(tmp_path: Path) -> None:
    """A real ComicInfo with <Pages> (readium's test file) through the books table into the
    labels the model trains on; a split file and a truth file still win for their books."""
    from comix_resources.books import build_books_table
    from comix_resources.fingerprints import FingerprintCache
    from comix_resources.pages import ExtractionLimits
    from comix_resources.sources import FolderTreeSource
    from tests.sources.conftest import fixture_dir

    root = tmp_path / "amazon" / "Tagged"
    root.mkdir(parents=True)
    real = fixture_dir("real_archives/readium") / "test-comicinfo.cbz"
    (root / "tagged.cbz").write_bytes(real.read_bytes())
    [collection] = FolderTreeSource("amazon", tmp_path / "amazon").collections()
    cache = FingerprintCache(tmp_path / "fp.sqlite")
    books = build_books_table("amazon", collection, cache, ExtractionLimits())
    [book_id] = books["book_id"].to_list()
    assert books["declared_pages"].to_list() == [
        [
            {"page_index": 0, "type": "FrontCover", "double_page": None},
            {"page_index": 1, "type": "Story", "double_page": None},
            {"page_index": 2, "type": "Story", "double_page": True},
        ]
    ]
    assert book_labels(books) == {book_id: ["cover", "first-page", "story"]}
    assert book_labels(books, {book_id: ["back_cover"]}) == {book_id: ["back_cover"]}
    Path(f"{root / 'tagged.cbz'}.truth.json").write_text(
        json.dumps({"pages": [{"page_index": 0, "page_type": "art"}]})
    )
    assert book_labels(books) == {book_id: ["art"]}
    rows = attach_labels([{"book_id": book_id, "page_index": 2}], {book_id: ["a", "b", "c"]})
    assert rows[0]["label"] == "c"
