"""Page rows from lake tables, scalar features, and the rule fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from comix_resources.page_classes import PAGE_CLASSES
from comix_resources.page_stream.features import (
    SCALAR_FEATURES,
    book_features,
    book_scalars,
    page_rows,
)
from comix_resources.page_stream.rules import CONFIDENCE, RulePredictor, rule_labels
from comix_resources.quality.table import PAGE_QUALITY_SCHEMA
from comix_resources.text.table import PAGE_TEXT_SCHEMA


def row(
    index: int, label: str, panels: int, chars: int, comic: bool = True, book: str = "b"
) -> dict[str, Any]:
    return {
        "page_id": f"{book}-{index:04d}",
        "book_id": book,
        "page_index": index,
        "text": "x" * chars,
        "is_comic": comic,
        "panel_count": panels,
        "label": label,
    }


# A book shaped like the demo library's (and CoSMo's) books, with a second story after an advert.
PAGES = [
    ("cover", 0, 65),
    ("credits", 0, 500),
    ("first-page", 3, 150),
    ("story", 5, 120),
    ("story", 1, 30),  # a splash page inside the story
    ("art", 1, 18),
    ("story", 4, 90),  # the story goes on after a pin-up
    ("advertisement", 0, 215),
    ("first-page", 4, 140),  # a new story after the advert
    ("story", 6, 200),
    ("textstory", 1, 2700),
    ("back_cover", 1, 66),
    ("non_comic", 0, 1800),
    ("non_comic", 0, 0),
]


def demo_like_rows(book: str = "b") -> list[dict[str, Any]]:
    return [
        row(i, label, panels, chars, comic=label != "non_comic", book=book)
        for i, (label, panels, chars) in enumerate(PAGES)
    ]


def test_book_scalars_position_and_first_last_comic() -> None:
    rows = demo_like_rows()
    s = book_scalars(rows)
    col = {name: s[:, i] for i, name in enumerate(SCALAR_FEATURES)}
    n = len(rows)
    assert s.shape == (n, len(SCALAR_FEATURES))
    assert col["position"][0] == 0 and col["position"][-1] == 1
    assert col["is_first"][0] == 1 and col["is_last"][-1] == 1
    # The last page is non-comic: the last comic page is the back cover.
    assert np.flatnonzero(col["is_last_comic"]).tolist() == [11]
    assert col["text_chars"][10] == 2700 and col["panel_count"][3] == 5
    # Missing quality measurements count as 0, and a missing verdict as comic.
    assert book_scalars([{"page_id": "p", "book_id": "b", "page_index": 0}])[0, 5] == 1


def test_rules_label_a_demo_shaped_book_exactly() -> None:
    (book,) = book_features(demo_like_rows())
    assert rule_labels(book) == [label for label, _, _ in PAGES]


def test_rules_give_cover_to_the_first_comic_page_and_probabilities_sum_to_one() -> None:
    rows = [row(0, "non_comic", 0, 0, comic=False), row(1, "cover", 0, 60), row(2, "story", 4, 80)]
    (book,) = book_features(rows)
    labels, probs = RulePredictor().predict(book)
    assert labels == ["non_comic", "cover", "first-page"]  # two comic pages: no back cover
    assert probs.shape == (3, len(PAGE_CLASSES))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    assert probs[1, PAGE_CLASSES.index("cover")] == pytest.approx(CONFIDENCE["cover"])


def test_book_features_groups_and_sorts_pages_by_book() -> None:
    rows = demo_like_rows("b2")[::-1] + demo_like_rows("a1")[:3]
    books = book_features(rows)
    assert [b.book_id for b in books] == ["a1", "b2"]
    assert books[1].page_indices == list(range(len(PAGES)))
    assert books[0].labels == ["cover", "credits", "first-page"]
    assert books[0].vision is None


def test_page_rows_joins_the_lake_tables() -> None:
    pages = pl.DataFrame(
        {
            "page_id": ["b-0000", "b-0001", "b-0002"],
            "book_id": ["b", "b", "b"],
            "page_index": [0, 1, 2],
            "path": ["pages/b/0000.jpg", "pages/b/0001.jpg", "pages/b/0002.jpg"],
            "sha256": ["s0", "s1", "s2"],
            "status": ["ok", "ok", "error"],
        },
        schema_overrides={"page_index": pl.Int32},
    )
    item = {
        "kind": "dialogue",
        "bbox": [1, 2, 3, 4],
        "speaker": None,
        "panel_number": 1,
        "confidence": 0.9,
    }
    text_rows = [
        {
            "page_id": "b-0000",
            "status": "ok",
            "items": [{**item, "text": "HELLO"}, {**item, "text": "THERE"}],
        },
        {"page_id": "b-0001", "status": "error", "items": [{**item, "text": "stale"}]},
    ]
    page_text = pl.DataFrame(
        [{k: r.get(k) for k in PAGE_TEXT_SCHEMA} for r in text_rows],
        schema=PAGE_TEXT_SCHEMA,
        orient="row",
    )
    quality = {k: None for k in PAGE_QUALITY_SCHEMA}
    page_quality = pl.DataFrame(
        [
            {
                **quality,
                "page_id": "b-0000",
                "is_comic": True,
                "flags": [],
                "panel_count": 4,
                "text_area_fraction": 0.05,
                "art_fraction": 0.5,
                "text_box_count": 2,
            },
            {
                **quality,
                "page_id": "b-0001",
                "is_comic": False,
                "flags": ["blank"],
                "panel_count": 0,
                "text_area_fraction": 0.0,
                "art_fraction": 0.0,
                "text_box_count": 0,
            },
        ],
        schema=PAGE_QUALITY_SCHEMA,
        orient="row",
    )
    rows = page_rows(pages, page_text, page_quality)
    assert [r["page_id"] for r in rows] == ["b-0000", "b-0001"]  # the unreadable page is left out
    assert rows[0]["text"] == "HELLO\nTHERE"
    assert rows[1]["text"] == ""  # failed text extraction: no text
    assert rows[0]["panel_count"] == 4 and rows[1]["is_comic"] is False
    assert rows[0]["path"] == "pages/b/0000.jpg" and rows[0]["sha256"] == "s0"
    (book,) = book_features(rows)
    assert RulePredictor().predict(book)[0] == ["cover", "non_comic"]
    # Without the optional tables every page is a comic page without text.
    bare = page_rows(pages)
    assert bare[0]["text"] == "" and "is_comic" not in bare[0]
