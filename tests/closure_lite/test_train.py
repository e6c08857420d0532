import numpy as np
import pytest

from comix_resources.closure_lite.evaluate import evaluate
from comix_resources.closure_lite.train import split_by_book, train

from .conftest import small_config


def test_split_by_book_has_no_leakage():
    books = np.array([f"b{i % 7}" for i in range(70)])
    train_index, val_index = split_by_book(books, 0.3, seed=1)
    assert set(books[train_index]).isdisjoint(books[val_index])
    assert len(train_index) + len(val_index) == 70
    assert len(set(books[val_index])) == 2
    assert np.array_equal(split_by_book(books, 0.3, seed=1)[1], val_index)
    assert len(split_by_book(np.array(["a", "b"]), 0.01, seed=0)[1]) > 0


@pytest.fixture(scope="module")
def trained(features):
    return train(features, small_config("base", max_epochs=15, patience=15), seed=3)


def test_training_reduces_loss_and_beats_chance(features, trained):
    history = trained.history
    # Masked panel and reading order can approach 0; SupCon cannot (a page with m same-book
    # positives has a floor of log m), so its drop is checked apart.
    for name in ("train_masked_panel", "train_reading_order"):
        assert history[-1][name] < 0.8 * history[0][name], name
    assert history[-1]["train_page"] < history[0]["train_page"]
    assert min(h["val_total"] for h in history) < history[0]["val_total"]
    assert set(features.book_ids[trained.train_index]).isdisjoint(
        features.book_ids[trained.val_index]
    )
    metrics = evaluate(trained.model(), features.subset(trained.val_index))
    assert metrics["closure_accuracy"] > 0.4  # chance 0.2
    assert metrics["retrieval_recall_at_10"] > metrics["retrieval_chance"]
    assert trained.seconds_per_epoch > 0


def test_training_is_deterministic(features, trained):
    epochs = []
    again = train(
        features,
        small_config("base", max_epochs=15, patience=15),
        seed=3,
        on_epoch=lambda epoch, metrics: epochs.append(epoch),
    )
    assert epochs == list(range(15))
    keys = [k for k in trained.history[0] if k != "seconds_per_epoch"]
    for a, b in zip(trained.history, again.history, strict=True):
        assert [a[k] for k in keys] == [b[k] for k in keys]


def test_early_stopping(features):
    result = train(
        features, small_config("context", max_epochs=50, patience=1, learning_rate=0.05), seed=0
    )
    assert result.stopped_early and len(result.history) < 50
    assert result.best_val_loss == min(h["val_monitored"] for h in result.history)
    # The monitored loss is the weighted masked-panel loss (not the page's or reading order's).
    weights = result.config.loss_weights
    for h in result.history:
        expected = sum(weights[n] * h[f"val_{n}"] for n in result.config.early_stopping_losses)
        assert h["val_monitored"] == pytest.approx(expected)
    assert "page" not in result.config.early_stopping_losses
