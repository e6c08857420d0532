"""Segments, the CoSMo split format, and the metrics, on hand-made books."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comix_resources.page_stream.labels import (
    Segment,
    comicinfo_labels,
    cosmo_book,
    labels_from_ranges,
    read_cosmo_splits,
    segments,
    write_cosmo_splits,
)
from comix_resources.page_stream.metrics import (
    classification_metrics,
    comicinfo_agreement,
    evaluate_books,
    runs,
    stream_metrics,
)

BOOK = [
    "cover",
    "credits",
    "first-page",
    "story",
    "story",
    "advertisement",
    "advertisement",
    "story",  # a story continued after the adverts
    "first-page",
    "story",
    "textstory",
    "back_cover",
]


def test_segments_open_stories_at_first_pages_and_merge_runs() -> None:
    assert segments(BOOK) == [
        Segment(0, 0, "cover"),
        Segment(1, 1, "credits"),
        Segment(2, 4, "story"),
        Segment(5, 6, "advertisement"),
        Segment(7, 7, "story"),
        Segment(8, 9, "story"),
        Segment(10, 10, "textstory"),
        Segment(11, 11, "back_cover"),
    ]


def test_segments_use_page_indices_and_break_at_gaps_and_unknown_pages() -> None:
    assert segments(["story", "story", None, "story"], [4, 5, 6, 7]) == [
        Segment(4, 5, "story"),
        Segment(7, 7, "story"),
    ]
    # Pages 5 and 7 are not neighbours, so the two adverts are two segments.
    assert segments(["advertisement", "advertisement"], [5, 7]) == [
        Segment(5, 5, "advertisement"),
        Segment(7, 7, "advertisement"),
    ]


# A book object as in CoSMo's splits/comics_test.json (trimmed).
COSMO = {
    "id": 14973,
    "dlid": "26520",
    "hash_code": "761c7920",
    "title": "Prize Comics 015",
    "subdb": "comics",
    "split": "dev",
    "stories": [
        {"id": 1, "story_id": "26520_1", "title": "Black Owl", "page_start": 2, "page_end": 4},
        {"id": 2, "story_id": "", "title": "Black Owl (continued)", "page_start": 6, "page_end": 7},
    ],
    "textstories": [{"id": 3, "title": "Grizzly", "page_start": 8, "page_end": 8}],
    "advertisements": [
        {"id": 4, "title": "", "page_start": 1, "page_end": 1},
        {"id": 5, "title": "", "page_start": 4, "page_end": 4},
    ],
    "covers": [{"id": 6, "title": "Front", "page_start": 0, "page_end": 0}],
}


def test_cosmo_ranges_become_page_labels_as_cosmo_reads_them() -> None:
    labels = labels_from_ranges(COSMO, num_pages=10)
    assert labels == [
        "cover",
        "advertisement",
        "first-page",
        "story",
        "advertisement",  # adverts are applied after stories and win the page
        None,  # in no range: unknown
        "story",  # "continue" in the title: no first page
        "story",
        "textstory",
        None,
    ]


def test_read_cosmo_splits_from_a_file_keyed_by_hash_code(tmp_path: Path) -> None:
    path = tmp_path / "comics_test.json"
    path.write_text(json.dumps([COSMO, {"book_id": "b2", "covers": [{"page_start": 0}]}]))
    books = read_cosmo_splits(path)
    assert list(books) == ["761c7920", "b2"]
    assert len(books["761c7920"]) == 9  # up to the last range's end
    assert books["b2"] == ["cover"]
    with pytest.raises(ValueError, match="JSON list"):
        read_cosmo_splits({"stories": []})  # type: ignore[arg-type]


def test_write_then_read_gives_the_labels_back(tmp_path: Path) -> None:
    books = {
        "a": BOOK,
        "b": ["cover", "art", "first-page", "story", "non_comic", None, "back_cover"],
    }
    path = tmp_path / "out" / "splits.json"
    write_cosmo_splits(books, path, titles={"a": "Book A"})
    data = json.loads(path.read_text())
    assert data[0]["title"] == "Book A"
    assert data[0]["stories"][1] == {"page_start": 7, "page_end": 7, "title": "(continued)"}
    assert data[1]["back_covers"] == [{"page_start": 6, "page_end": 6}]
    assert read_cosmo_splits(path) == books


def test_cosmo_book_keeps_cosmo_keys_even_when_empty() -> None:
    book = cosmo_book("x", ["cover"])
    assert book["stories"] == [] and book["covers"] == [{"page_start": 0, "page_end": 0}]
    assert "art" not in book


def test_runs_are_maximal_equal_label_runs() -> None:
    assert runs(["a", "a", "b", "a"]) == [range(0, 2), range(2, 3), range(3, 4)]
    assert runs([]) == []


def test_stream_metrics_perfect_and_worked_example() -> None:
    perfect = stream_metrics(BOOK, BOOK)
    assert perfect["pq"] == perfect["sq"] == perfect["rq"] == 1.0
    assert perfect["mndd"] == 0.0
    # True runs: [0-1] a, [2-5] b; predicted: [0-2] a, [3-5] b.
    true = ["a", "a", "b", "b", "b", "b"]
    pred = ["a", "a", "a", "b", "b", "b"]
    m = stream_metrics(true, pred)
    # IoUs: a 2/3, b 3/4; both above 0.5, so TP 2, FP 0, FN 0.
    assert m["rq"] == 1.0
    assert m["sq"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert m["pq"] == pytest.approx(m["sq"])
    # Largest overlaps: a 2, b 3 -> 6 - 5 = 1 page to move.
    assert m["mndd"] == 1.0
    assert m["mndd_normalised"] == pytest.approx(1 / 6)


def test_stream_metrics_unmatched_segments_and_unknown_pages() -> None:
    true = ["a", "a", "a", "a", None]
    pred = ["a", "b", "a", "b", "b"]
    m = stream_metrics(true, pred)
    # The unknown page is dropped; predicted runs a|b|a|b all have IoU 1/4 with the true run.
    assert m["rq"] == 0.0 and m["pq"] == 0.0 and m["sq"] == 0.0
    assert m["mndd"] == 3.0  # keep one page of the true run, move three
    with pytest.raises(ValueError):
        stream_metrics(["a"], [])


def test_classification_metrics_and_macro_over_present_classes() -> None:
    m = classification_metrics(
        ["cover", "story", "story", "back_cover", None],
        ["cover", "story", "cover", "back_cover", "art"],
    )
    assert m["pages"] == 4 and m["accuracy"] == 0.75
    assert m["per_class"]["cover"]["precision"] == 0.5
    assert m["per_class"]["story"]["recall"] == 0.5
    assert m["per_class"]["art"]["support"] == 0
    # cover 2/3, story 2/3, back_cover 1; art is in neither list (the unknown page is dropped).
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_evaluate_books_pools_pages_and_averages_books() -> None:
    report = evaluate_books(
        [(["a", "b"], ["a", "b"]), (["a", "a"], ["a", "b"])], classes=("a", "b")
    )
    assert report["books"] == 2
    assert report["accuracy"] == 0.75
    assert report["mndd"] == 0.5  # 0 and 1
    assert report["pq"] == pytest.approx((1.0 + 0.0) / 2)


def _declared(types: list[str | None]) -> list[dict]:
    return [{"page_index": i, "type": t, "double_page": None} for i, t in enumerate(types)]


@pytest.mark.parametrize(
    ("types", "labels"),
    [
        (
            ["FrontCover", "InnerCover", "Roundup", "Story", "Story", "Advertisement", "Story"],
            ["cover", "cover", "textstory", "first-page", "story", "advertisement", "story"],
        ),
        # a text story or letters page ends a story: the next one opens with first-page
        (
            ["Story", "Letters", "Story", "Editorial", "Preview", "BackCover", "Deleted"],
            [
                "first-page",
                "textstory",
                "first-page",
                "textstory",
                "advertisement",
                "back_cover",
                "non_comic",
            ],
        ),
        # untyped and Other pages are unknown, and do not end the story around them
        (
            ["FrontCover", None, "Story", "Other", "Story"],
            ["cover", None, "first-page", None, "story"],
        ),
        ([None, None], [None, None]),
    ],
)
def test_comicinfo_types_become_page_classes(types: list, labels: list) -> None:
    assert comicinfo_labels(_declared(types)) == labels


def test_comicinfo_labels_follow_image_indices() -> None:
    declared = [{"page_index": 3, "type": "BackCover"}, {"page_index": 0, "type": "frontcover"}]
    assert comicinfo_labels(declared) == ["cover", None, None, "back_cover"]
    assert comicinfo_labels(declared, num_pages=5) == ["cover", None, None, "back_cover", None]
    assert comicinfo_labels(None) == []


def test_agreement_with_comicinfo_counts_first_page_as_story() -> None:
    declared = ["cover", "first-page", "story", None, "advertisement"]
    scores = comicinfo_agreement(
        [
            ([0, 1, 2, 3, 4], ["cover", "story", "first-page", "art", "story"], declared),
            ([0], ["cover"], [None]),  # a book without usable types does not count
        ]
    )
    assert scores == {
        "books": 1,
        "pages": 4,
        "accuracy": 0.75,
        "per_class": {
            "advertisement": {"pages": 1, "agreed": 0},
            "cover": {"pages": 1, "agreed": 1},
            "story": {"pages": 2, "agreed": 2},
        },
    }
    assert comicinfo_agreement([([0], ["cover"], [None])]) is None
