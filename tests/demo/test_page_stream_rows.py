"""Labelled rows from the demo library, and the rules on them (slow: renders the library)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comix_resources.demo.page_stream_rows import bytes_image_loader, demo_page_rows
from comix_resources.page_stream.features import book_features
from comix_resources.page_stream.inference import page_types_table, predict_books
from comix_resources.page_stream.metrics import evaluate_books
from comix_resources.page_stream.rules import RulePredictor


@pytest.mark.slow
def test_demo_rows_match_the_truth_and_the_rules_label_them(demo_library: Path) -> None:
    rows = demo_page_rows(demo_library)
    truths = {}
    for path in demo_library.rglob("*.truth.json"):
        truth = json.loads(path.read_text())
        truths[truth["title"]] = [p["page_type"] for p in truth["pages"]]
    books = book_features(rows)
    assert len(books) == len(truths)  # a Calibre book in two formats counts once
    for book in books:
        assert book.labels == truths[book.group]
    # The quality filter's verdict (not the truth's) agrees with the truth on the demo pages.
    assert all(r["is_comic"] == (r["label"] != "non_comic") for r in rows)
    assert bytes_image_loader(rows)(rows[0]["path"]).mode == "RGB"

    predictions = predict_books(RulePredictor(), books)
    report = evaluate_books([(b.labels, p.labels) for b, p in zip(books, predictions, strict=True)])
    # A one-panel splash page with a short caption can pass for a pin-up (art): the rules
    # may miss one or two of those, nothing else.
    assert report["accuracy"] > 0.97 and report["macro_f1"] > 0.95
    wrong = {
        (t, p)
        for b, pred in zip(books, predictions, strict=True)
        for t, p in zip(b.labels, pred.labels, strict=True)
        if t != p
    }
    assert wrong <= {("story", "art"), ("art", "story")}
    table = page_types_table(predictions)
    assert table.height == len(rows) and table["page_id"].n_unique() == len(rows)
