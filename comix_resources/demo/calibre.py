"""Writer for a Calibre library: ``metadata.db`` plus ``Author/Title (id)/`` book folders.

The database is created from ``calibre_schema.sql`` (the schema of a library written by
calibre 6.13, dumped once by ``dump_calibre_schema.py``), with the SQL functions that
calibre's triggers and views call registered on the connection (``title_sort``, ``uuid4``,
``books_list_filter``, ``concat``, ``sortconcat``). Folder and file names follow calibre's
``construct_path_name`` / ``construct_file_name`` (non-Windows limits). Timestamps and
UUIDs are fixed or derived from the seed, so the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from comix_resources.demo.writers import atomic_write

SCHEMA_PATH = Path(__file__).with_name("calibre_schema.sql")
CALIBRE_VERSION = "6.13.0"
PATH_LIMIT = 100  # calibre's limit for path components on Linux and macOS
PREFERENCES = [  # what calibredb 6.13 writes into a new library
    ("bools_are_tristate", "true"),
    ("user_categories", "{}"),
    ("saved_searches", "{}"),
    ("grouped_search_terms", "{}"),
]
_ARTICLES = re.compile(r"^(A|The|An)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class CalibreBook:
    title: str
    authors: list[str]
    tags: list[str]
    series: str | None
    series_index: float
    publisher: str | None
    pubdate: str  # "YYYY-MM-DD"
    comments: str
    formats: dict[str, bytes]  # "CBZ" -> file bytes; first entry is the main format
    cover: bytes  # cover.jpg bytes
    identifiers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WrittenBook:
    book_id: int
    folder: Path  # absolute book folder
    files: dict[str, Path]  # format -> absolute file path


def title_sort(title: str) -> str:
    """calibre's default title sort: a leading English article moves to the end."""
    title = title.strip()
    match = _ARTICLES.match(title)
    if match:
        return f"{title[match.end() :]}, {match.group(1)}"
    return title


def author_sort(author: str) -> str:
    """calibre's default ``invert`` method: "Jun Park" -> "Park, Jun"."""
    parts = author.split()
    if len(parts) < 2:
        return author
    return f"{parts[-1]}, {' '.join(parts[:-1])}"


def ascii_filename(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", text)


def construct_path_name(book_id: int, title: str, author: str) -> str:
    suffix = f" ({book_id})"
    limit = PATH_LIMIT - (len(suffix) // 2) - 2
    author_part = ascii_filename(author)[:limit].rstrip(" .") or "Unknown"
    title_part = ascii_filename(title.lstrip())[:limit].rstrip() or "Unknown"
    return f"{author_part}/{title_part}{suffix}"


def construct_file_name(title: str, author: str, extlen: int = 4) -> str:
    limit = (PATH_LIMIT - max(extlen, 14) - 2) // 2
    author_part = ascii_filename(author)[:limit]
    title_part = ascii_filename(title.lstrip())[:limit].rstrip() or "Unknown"
    return f"{title_part} - {author_part}".rstrip(".")


def _seeded_uuid(seed: int, label: str) -> str:
    digest = hashlib.sha256(f"comix-demo:{seed}:{label}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class _Concat:
    def __init__(self) -> None:
        self.values: list[str] = []

    def step(self, value: object) -> None:
        if value is not None:
            self.values.append(str(value))

    def finalize(self) -> str | None:
        return ",".join(self.values) if self.values else None


class _SortConcat:
    def __init__(self) -> None:
        self.values: list[tuple[int, str]] = []

    def step(self, ndx: int, value: object) -> None:
        if value is not None:
            self.values.append((ndx, str(value)))

    def finalize(self) -> str | None:
        return ",".join(v for _, v in sorted(self.values)) if self.values else None


def register_functions(con: sqlite3.Connection, seed: int) -> None:
    """The functions calibre's triggers and views call, as calibre registers them."""
    counter: Iterator[int] = iter(range(1, 1_000_000))
    con.create_function("title_sort", 1, title_sort, deterministic=True)
    con.create_function("uuid4", 0, lambda: _seeded_uuid(seed, f"uuid4-{next(counter)}"))
    con.create_function("books_list_filter", 1, lambda _book: 1)
    con.create_aggregate("concat", 1, _Concat)  # type: ignore[arg-type]
    con.create_aggregate("sortconcat", 2, _SortConcat)  # type: ignore[arg-type]


def _timestamp(book_id: int) -> str:
    return f"2024-01-01 12:{book_id:02d}:00+00:00"


def _opf(book_id: int, book_uuid: str, book: CalibreBook) -> bytes:
    def meta(name: str, content: str) -> str:
        return f"        <meta name={quoteattr('calibre:' + name)} content={quoteattr(content)}/>"

    lines = [
        "<?xml version='1.0' encoding='utf-8'?>",
        '<package xmlns="http://www.idpf.org/2007/opf" unique-identifier="uuid_id" version="2.0">',
        '    <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:opf="http://www.idpf.org/2007/opf">',
        f'        <dc:identifier opf:scheme="calibre" id="calibre_id">{book_id}</dc:identifier>',
        f'        <dc:identifier opf:scheme="uuid" id="uuid_id">{book_uuid}</dc:identifier>',
        f"        <dc:title>{escape(book.title)}</dc:title>",
    ]
    lines += [
        f"        <dc:creator opf:file-as={quoteattr(author_sort(a))} "
        f'opf:role="aut">{escape(a)}</dc:creator>'
        for a in book.authors
    ]
    lines += [
        '        <dc:contributor opf:file-as="calibre" opf:role="bkp">calibre '
        f"({CALIBRE_VERSION}) [https://calibre-ebook.com]</dc:contributor>",
        f"        <dc:date>{book.pubdate}T00:00:00+00:00</dc:date>",
        f"        <dc:description>{escape(book.comments)}</dc:description>",
    ]
    if book.publisher:
        lines.append(f"        <dc:publisher>{escape(book.publisher)}</dc:publisher>")
    lines += [
        f'        <dc:identifier opf:scheme="{escape(k.upper())}">{escape(v)}</dc:identifier>'
        for k, v in sorted(book.identifiers.items())
    ]
    lines.append("        <dc:language>eng</dc:language>")
    lines += [f"        <dc:subject>{escape(t)}</dc:subject>" for t in book.tags]
    lines.append(meta("author_link_map", json.dumps({a: "" for a in book.authors})))
    if book.series:
        lines.append(meta("series", book.series))
        lines.append(meta("series_index", f"{book.series_index:g}"))
    lines.append(meta("timestamp", _timestamp(book_id).replace(" ", "T")))
    lines.append(meta("title_sort", title_sort(book.title)))
    lines += [
        "    </metadata>",
        "    <guide>",
        '        <reference type="cover" title="Cover" href="cover.jpg"/>',
        "    </guide>",
        "</package>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def _id_for(con: sqlite3.Connection, table: str, name: str, with_sort: bool = False) -> int:
    row = con.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    if with_sort:
        cur = con.execute(f"INSERT INTO {table}(name, sort) VALUES (?, ?)", (name, name))
    else:
        cur = con.execute(f"INSERT INTO {table}(name) VALUES (?)", (name,))
    assert cur.lastrowid is not None
    return cur.lastrowid


def write_calibre_library(root: Path, books: Sequence[CalibreBook], seed: int) -> list[WrittenBook]:
    """Write a calibre library with ``books`` (ids 1..n in order) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    db_path = root / "metadata.db"
    tmp_db = root / ".metadata.db.tmp"
    tmp_db.unlink(missing_ok=True)
    written: list[WrittenBook] = []
    con = sqlite3.connect(tmp_db)
    try:
        register_functions(con, seed)
        con.executescript(SCHEMA_PATH.read_text(encoding="utf-8"))
        with con:
            con.executemany("INSERT INTO preferences(key, val) VALUES (?, ?)", PREFERENCES)
            con.execute("INSERT INTO library_id(uuid) VALUES (?)", (_seeded_uuid(seed, "lib"),))
            lang = _lang_id(con)
            for book in books:
                written.append(_insert_book(con, root, book, seed, lang))
    finally:
        con.close()
    os.replace(tmp_db, db_path)
    return written


def _lang_id(con: sqlite3.Connection) -> int:
    cur = con.execute("INSERT INTO languages(lang_code) VALUES ('eng')")
    assert cur.lastrowid is not None
    return cur.lastrowid


def _insert_book(
    con: sqlite3.Connection, root: Path, book: CalibreBook, seed: int, lang: int
) -> WrittenBook:
    first_author = book.authors[0]
    cur = con.execute(
        "INSERT INTO books(title, series_index, author_sort, timestamp, pubdate, "
        "last_modified, isbn, lccn, flags, has_cover) VALUES (?, ?, ?, ?, ?, ?, '', '', 1, 1)",
        (
            book.title,
            book.series_index,
            " & ".join(author_sort(a) for a in book.authors),
            "2000-01-01 00:00:00+00:00",
            f"{book.pubdate} 00:00:00+00:00",
            "2000-01-01 00:00:00+00:00",
        ),
    )
    book_id = cur.lastrowid
    assert book_id is not None
    book_uuid = _seeded_uuid(seed, f"book-{book_id}-{book.title}")
    rel = construct_path_name(book_id, book.title, first_author)
    stamp = _timestamp(book_id)
    con.execute(
        "UPDATE books SET path = ?, uuid = ?, timestamp = ?, last_modified = ? WHERE id = ?",
        (rel, book_uuid, stamp, stamp, book_id),
    )
    for author in book.authors:
        row = con.execute("SELECT id FROM authors WHERE name = ?", (author,)).fetchone()
        if row:
            author_id = int(row[0])
        else:
            c = con.execute(
                "INSERT INTO authors(name, sort, link) VALUES (?, ?, '')",
                (author, author_sort(author)),
            )
            assert c.lastrowid is not None
            author_id = c.lastrowid
        con.execute(
            "INSERT INTO books_authors_link(book, author) VALUES (?, ?)", (book_id, author_id)
        )
    for tag in book.tags:
        con.execute(
            "INSERT INTO books_tags_link(book, tag) VALUES (?, ?)",
            (book_id, _id_for(con, "tags", tag)),
        )
    if book.series:
        con.execute(
            "INSERT INTO books_series_link(book, series) VALUES (?, ?)",
            (book_id, _id_for(con, "series", book.series)),
        )
    if book.publisher:
        con.execute(
            "INSERT INTO books_publishers_link(book, publisher) VALUES (?, ?)",
            (book_id, _id_for(con, "publishers", book.publisher, with_sort=True)),
        )
    con.execute(
        "INSERT INTO books_languages_link(book, lang_code, item_order) VALUES (?, ?, 0)",
        (book_id, lang),
    )
    con.execute("INSERT INTO comments(book, text) VALUES (?, ?)", (book_id, book.comments))
    for kind, value in sorted(book.identifiers.items()):
        con.execute(
            "INSERT INTO identifiers(book, type, val) VALUES (?, ?, ?)", (book_id, kind, value)
        )
    folder = root / rel
    files: dict[str, Path] = {}
    for fmt, data in book.formats.items():
        name = construct_file_name(book.title, first_author)
        path = folder / f"{name}.{fmt.lower()}"
        atomic_write(path, data)
        con.execute(
            "INSERT INTO data(book, format, uncompressed_size, name) VALUES (?, ?, ?, ?)",
            (book_id, fmt.upper(), len(data), name),
        )
        files[fmt.upper()] = path
    atomic_write(folder / "cover.jpg", book.cover)
    atomic_write(folder / "metadata.opf", _opf(book_id, book_uuid, book))
    return WrittenBook(book_id, folder, files)
