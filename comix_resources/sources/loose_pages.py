"""Loose page images grouped into books by their names.

Large corpora are often kept as page images already converted from their books, many books in
one folder: ``#Guardian 001_#Guardian 001 - p000.jpg.png``, ``Book Title - p012.jpg``,
``Book_Title_012.jpg``. A name pattern (``COMIX_PAGE_NAME_PATTERN``: a regular expression
with the named groups ``book`` and ``page``, matched against the whole name without its image
extensions) says which book a file is a page of and its number.

``group_pages`` decides per folder: when the names give fewer than two books (the pages of
one book, ``p001.jpg ... p024.jpg`` or ``Book 01.jpg ... Book 24.jpg``, or names the pattern
does not read) the folder stays one book; otherwise each book name is a book, its pages in
the order of their numbers, and an image whose name the pattern does not read is a book of
its own (or the first page of the book of the same name: ``Book.jpg`` beside ``Book 01.jpg``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from natsort import natsort_keygen, ns

from comix_resources.sources.formats import strip_image_suffixes

# `<book> - p<NNN>`, `<book>_p<NNN>`, `<book> pg 12`, `<book> page 12`, `<book> <NNN>`,
# `<book>_<NNN>`, `<book>.<NNN>`, `<book>-<NNN>`; numbers padded or not. The book part is the
# shortest that leaves a separator and a number at the end, so a number inside the book's
# name (`Spider-Man 2099 001`) stays in it.
DEFAULT_PAGE_NAME_PATTERN = (
    r"^(?P<book>.*?\S)(?:\s*[-_.]?\s*(?:p|pg|page)\.?\s*|[\s_.-]+)(?P<page>\d{1,6})$"
)
_natural = natsort_keygen(alg=ns.IGNORECASE)


@dataclass(frozen=True)
class PageGroup:
    name: str  # the book's name (the pattern's ``book``), its title
    files: tuple[str, ...]  # file names in page order


def compile_page_name_pattern(pattern: str | None) -> re.Pattern[str]:
    """The pattern, or the default for ``None``/""; ValueError saying what is wrong with it."""
    text = pattern or DEFAULT_PAGE_NAME_PATTERN
    try:
        compiled = re.compile(text)
    except re.error as error:
        raise ValueError(
            f"COMIX_PAGE_NAME_PATTERN {text!r} is not a regular expression: {error}"
        ) from None
    missing = {"book", "page"} - set(compiled.groupindex)
    if missing:
        raise ValueError(
            f"COMIX_PAGE_NAME_PATTERN {text!r} lacks the named group(s)"
            f" {', '.join(f'(?P<{name}>...)' for name in sorted(missing))}"
        )
    return compiled


def page_name(name: str, pattern: re.Pattern[str]) -> tuple[str, int] | None:
    """``(book, page number)`` of a file name, or None when the pattern does not read it."""
    match = pattern.fullmatch(strip_image_suffixes(name))
    if match is None:
        return None
    book, page = (match.group("book") or "").strip(), match.group("page") or ""
    if not book or not page.isdigit():
        return None
    return book, int(page)


def group_pages(names: Iterable[str], pattern: re.Pattern[str]) -> list[PageGroup] | None:
    """The books among a folder's image file names, sorted by name; None when the folder is
    one book (see the module docstring)."""
    numbered: dict[str, list[tuple[int, str]]] = {}
    unread: list[str] = []
    for name in names:
        parsed = page_name(name, pattern)
        if parsed is None:
            unread.append(name)
        else:
            numbered.setdefault(parsed[0], []).append((parsed[1], name))
    if len(numbered) < 2:
        return None
    for name in unread:
        # Before every numbered page of its book (a cover named like the book), or alone.
        numbered.setdefault(strip_image_suffixes(name), []).append((-1, name))
    return [
        PageGroup(book, tuple(name for _, name in sorted(pages, key=_page_order)))
        for book, pages in sorted(numbered.items(), key=lambda item: _natural(item[0]))
    ]


def _page_order(page: tuple[int, str]) -> tuple[int, str]:
    return page  # by number; the name only breaks ties (``Book 1.jpg`` and ``Book 01.png``)
