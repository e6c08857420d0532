"""Page labels: segments of a book, CoSMo split files, and the demo library's ground truth.

Segments
--------
``segments(labels)`` turns one book's page classes into ``Segment(start_page, end_page,
segment_type)`` (inclusive page indices): a ``first-page`` opens a ``story`` segment that the
following ``story`` pages extend; a ``story`` page that follows anything else opens a story
segment of its own (a story continued after an insert); every other class makes one segment
per run of equal pages (two adverts in a row are one advertisement segment). Unknown pages
(None) end a segment and belong to none.

CoSMo split files (the format users bring their own labels in)
---------------------------------------------------------------
A JSON list with one object per book, as in CoSMo's ``splits/comics_{train,val,test}.json``::

    [{"hash_code": "<book id>",            # the key; else "book_id", else "id"
      "title": "Big Shot Comics 014",      # optional, as are "id", "dlid", "subdb", "split"
      "stories":        [{"title": "Skyman", "page_start": 2, "page_end": 12}, ...],
      "textstories":    [{"title": "...", "page_start": 55, "page_end": 55}],
      "advertisements": [{"page_start": 66, "page_end": 67}],
      "covers":         [{"page_start": 0, "page_end": 0}],
      # CoMix extensions, absent from CoSMo's files (read when present):
      "credits": [...], "art": [...], "back_covers": [...], "non_comic": [...]}]

ComicInfo page types (the labels users' libraries already carry)
----------------------------------------------------------------
A book's ``ComicInfo.xml`` may type its pages (``<Pages><Page Image="0" Type="FrontCover"/>``);
the books table keeps them (``declared_pages``). ``comicinfo_labels`` maps them to page
classes with ``page_classes.COMICINFO_TO_CLASS``, opening each story with ``first-page`` as
CoSMo's loader does: the first ``Story`` page of the book, and the first of every later run of
``Story`` pages, unless what separates it from the previous ``Story`` page is only adverts,
previews and untyped or ``Other`` pages (an insert in a story, the way modern comics place
them). Pages without a type, and ``Other``, are unknown.

Pages are 0-based page indices (``page_index`` of pages.parquet), ranges inclusive. As in
CoSMo's loader, the first page of every story is ``first-page`` and the rest ``story``,
except for a story whose title contains "continue" (a continuation: all ``story``); keys are
applied in the order above, so a later key wins a page that two ranges claim; pages in no
range are unknown (None) and count in neither training nor metrics. ``write_cosmo_splits``
writes the same format (back covers under ``back_covers``, a continued story titled
``"(continued)"``), and reading what it wrote gives the labels back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comix_resources.page_classes import COMICINFO_TO_CLASS, comicinfo_type, normalise_page_class

# CoSMo's keys, then ours; the order decides which range wins a page claimed twice.
COSMO_KEYS: tuple[tuple[str, str], ...] = (
    ("stories", "story"),
    ("textstories", "textstory"),
    ("advertisements", "advertisement"),
    ("covers", "cover"),
    ("credits", "credits"),
    ("art", "art"),
    ("back_covers", "back_cover"),
    ("non_comic", "non_comic"),
)
_KEY_OF_CLASS = {cls: key for key, cls in COSMO_KEYS}
CONTINUED = "(continued)"


@dataclass(frozen=True)
class Segment:
    start_page: int  # page_index of the first page, inclusive
    end_page: int  # page_index of the last page, inclusive
    segment_type: str  # a page class; "story" for a story (first-page and story pages)

    def to_json(self) -> dict[str, Any]:
        return {"start_page": self.start_page, "end_page": self.end_page, "type": self.segment_type}


def segments(
    labels: Sequence[str | None], page_indices: Sequence[int] | None = None
) -> list[Segment]:
    """The book's segments (see the module docstring); ``page_indices`` default to 0..n-1."""
    indices = list(page_indices) if page_indices is not None else list(range(len(labels)))
    out: list[Segment] = []
    current: list[Any] | None = None  # [start, end, type, last label]
    for index, label in zip(indices, labels, strict=True):
        kind = "story" if label == "first-page" else label
        continues = (
            current is not None
            and label is not None
            and label != "first-page"
            and current[2] == kind
            and current[1] == index - 1
        )
        if continues and current is not None:
            current[1] = index
            continue
        if current is not None:
            out.append(Segment(current[0], current[1], current[2]))
        current = [index, index, kind] if label is not None else None
    if current is not None:
        out.append(Segment(current[0], current[1], current[2]))
    return out


def labels_from_ranges(book: Mapping[str, Any], num_pages: int | None = None) -> list[str | None]:
    """Page labels of one CoSMo book object; ``num_pages`` defaults to the last range's end."""
    ends = [
        int(item.get("page_end", item.get("page_start", 0)))
        for key, _ in COSMO_KEYS
        for item in book.get(key) or []
    ]
    n = num_pages if num_pages is not None else (max(ends) + 1 if ends else 0)
    labels: list[str | None] = [None] * n
    for key, cls in COSMO_KEYS:
        for item in book.get(key) or []:
            start = int(item.get("page_start", 0))
            end = int(item.get("page_end", start))
            continued = "continue" in str(item.get("title") or "").lower()
            for page in range(max(start, 0), min(end, n - 1) + 1):
                first = key == "stories" and page == start and not continued
                labels[page] = "first-page" if first else cls
    return labels


# What may sit inside a story without ending it (the story goes on after it).
_STORY_INSERTS = frozenset({"Advertisement", "Preview", "Other", None})


def comicinfo_labels(
    declared: Sequence[Mapping[str, Any]] | None, num_pages: int | None = None
) -> list[str | None]:
    """Page labels of one book from its ComicInfo ``<Page>`` entries (``page_index`` and
    ``type``, as in the books table's ``declared_pages``); see the module docstring. All None
    when no page has a type we can use."""
    types: dict[int, str | None] = {}
    for page in declared or ():
        index = page.get("page_index")
        if isinstance(index, int) and index >= 0:
            types.setdefault(index, comicinfo_type(page.get("type")))
    n = num_pages if num_pages is not None else (max(types) + 1 if types else 0)
    labels: list[str | None] = [None] * n
    seen_story = False
    since_story: set[str | None] = set()  # the types between this page and the last Story
    for index in range(n):
        kind = types.get(index)
        if kind == "Story":
            opens = not seen_story or not since_story <= _STORY_INSERTS
            labels[index] = "first-page" if opens else "story"
            seen_story, since_story = True, set()
            continue
        labels[index] = COMICINFO_TO_CLASS.get(kind) if kind else None
        since_story.add(kind)
    return labels


def _book_key(book: Mapping[str, Any]) -> str:
    for key in ("hash_code", "book_id", "id"):
        if book.get(key) not in (None, ""):
            return str(book[key])
    raise ValueError(f"book without hash_code, book_id or id: {str(book)[:120]}")


def read_cosmo_splits(
    source: str | Path | Sequence[Mapping[str, Any]],
) -> dict[str, list[str | None]]:
    """Book id -> page labels from a CoSMo split file (a path, or the parsed JSON list)."""
    books = json.loads(Path(source).read_text()) if isinstance(source, str | Path) else source
    if not isinstance(books, list):
        raise ValueError("a CoSMo split file holds a JSON list of books")
    return {_book_key(book): labels_from_ranges(book) for book in books}


def cosmo_book(book_id: str, labels: Sequence[str | None], title: str = "") -> dict[str, Any]:
    """One book's object in the CoSMo split format."""
    book: dict[str, Any] = {"hash_code": book_id, "title": title}
    for key, _ in COSMO_KEYS:
        book[key] = []
    for segment in segments([normalise_page_class(x) if x else None for x in labels]):
        item: dict[str, Any] = {"page_start": segment.start_page, "page_end": segment.end_page}
        if segment.segment_type == "story":
            item["title"] = "" if labels[segment.start_page] == "first-page" else CONTINUED
        book[_KEY_OF_CLASS[segment.segment_type]].append(item)
    return {
        k: v
        for k, v in book.items()
        if v != [] or k in ("stories", "textstories", "advertisements", "covers")
    }


def write_cosmo_splits(
    books: Mapping[str, Sequence[str | None]],
    path: str | Path,
    titles: Mapping[str, str] | None = None,
) -> None:
    """Write book id -> page labels as a CoSMo split file (temporary name, then rename)."""
    data = [
        cosmo_book(book_id, labels, (titles or {}).get(book_id, ""))
        for book_id, labels in books.items()
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
