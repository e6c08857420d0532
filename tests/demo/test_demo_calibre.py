from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from comix_resources.demo import DemoSummary
from comix_resources.demo.calibre import (
    SCHEMA_PATH,
    author_sort,
    construct_file_name,
    construct_path_name,
    title_sort,
)

OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"


def _connect(library: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{library / 'metadata.db'}?mode=ro", uri=True)


def _listing(library: Path) -> list[dict[str, object]]:
    """What ``calibredb list`` shows (title, authors, tags, series, publisher, formats)."""
    con = _connect(library)
    try:
        out = []
        for book_id, title, path, series_index in con.execute(
            "SELECT id, title, path, series_index FROM books ORDER BY id"
        ):
            authors = [
                r[0]
                for r in con.execute(
                    "SELECT a.name FROM books_authors_link l JOIN authors a ON a.id = l.author "
                    "WHERE l.book = ? ORDER BY l.id",
                    (book_id,),
                )
            ]
            tags = sorted(
                r[0]
                for r in con.execute(
                    "SELECT t.name FROM books_tags_link l JOIN tags t ON t.id = l.tag "
                    "WHERE l.book = ?",
                    (book_id,),
                )
            )
            series = con.execute(
                "SELECT s.name FROM books_series_link l JOIN series s ON s.id = l.series "
                "WHERE l.book = ?",
                (book_id,),
            ).fetchone()
            publisher = con.execute(
                "SELECT p.name FROM books_publishers_link l JOIN publishers p "
                "ON p.id = l.publisher WHERE l.book = ?",
                (book_id,),
            ).fetchone()
            formats = [
                str(library / path / f"{name}.{fmt.lower()}")
                for fmt, name in con.execute(
                    "SELECT format, name FROM data WHERE book = ? ORDER BY id", (book_id,)
                )
            ]
            out.append(
                {
                    "id": book_id,
                    "title": title,
                    "authors": " & ".join(authors),
                    "tags": tags,
                    "series": series[0] if series else None,
                    "series_index": series_index,
                    "publisher": publisher[0] if publisher else None,
                    "formats": formats,
                }
            )
        return out
    finally:
        con.close()


def test_schema_is_calibres() -> None:
    con = sqlite3.connect(":memory:")
    con.executescript(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert con.execute("PRAGMA user_version").fetchone() == (25,)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert {"books", "data", "tags", "books_tags_link", "meta", "books_insert_trg"} <= names


def test_library_listing(demo: DemoSummary) -> None:
    library = demo.sources["calibre"].root
    books = _listing(library)
    assert [b["title"] for b in books] == [
        "Captain Comet #001",
        "Captain Comet #002",
        "Rocket Rangers Annual",
        "The Lantern Keepers 1",
        "Paper Moon Detective",
    ]
    by_tag: dict[str, int] = {}
    for book in books:
        for tag in book["tags"]:  # type: ignore[attr-defined]
            by_tag[tag] = by_tag.get(tag, 0) + 1
    assert by_tag == demo.sources["calibre"].collections
    assert {b["series"] for b in books} == {
        "Captain Comet",
        "Rocket Rangers",
        "Lantern Keepers",
        "Paper Moon",
    }
    assert {b["publisher"] for b in books} == {"Starlight Press", "Indie Ink Comics"}
    assert books[3]["authors"] == "Jun Park & Nadia Brooks"
    # one book in two formats, for preferred-format logic
    assert [len(b["formats"]) for b in books] == [2, 1, 1, 1, 1]  # type: ignore[arg-type]
    listed = sorted(Path(f) for b in books for f in b["formats"])  # type: ignore[attr-defined]
    assert listed == sorted(demo.sources["calibre"].book_paths)


def test_rows_match_files_on_disk(demo: DemoSummary) -> None:
    library = demo.sources["calibre"].root
    con = _connect(library)
    try:
        rows = con.execute(
            "SELECT b.id, b.title, b.sort, b.path, b.uuid, b.has_cover, b.author_sort, "
            "b.timestamp, b.pubdate FROM books b ORDER BY b.id"
        ).fetchall()
        for book_id, title, sort, path, uuid, has_cover, a_sort, timestamp, pubdate in rows:
            folder = library / path
            assert folder.is_dir()
            assert sort == title_sort(title)
            assert has_cover == 1 and (folder / "cover.jpg").read_bytes()[:2] == b"\xff\xd8"
            assert timestamp.startswith("2024-01-01") and pubdate.endswith("+00:00")
            first_author = con.execute(
                "SELECT a.name, a.sort FROM books_authors_link l JOIN authors a "
                "ON a.id = l.author WHERE l.book = ? ORDER BY l.id",
                (book_id,),
            ).fetchone()
            assert first_author[1] == author_sort(first_author[0])
            assert a_sort.startswith(first_author[1])
            assert path == construct_path_name(book_id, title, first_author[0])
            data = con.execute(
                "SELECT format, uncompressed_size, name FROM data WHERE book = ?", (book_id,)
            ).fetchall()
            assert data
            for fmt, size, name in data:
                assert name == construct_file_name(title, first_author[0])
                file = folder / f"{name}.{fmt.lower()}"
                assert file.stat().st_size == size
                assert file.with_name(file.name + ".truth.json").is_file()
            opf = ElementTree.parse(folder / "metadata.opf").getroot()
            meta = opf.find(f"{OPF}metadata")
            assert meta is not None
            assert meta.findtext(f"{DC}title") == title
            ids = {e.get(f"{OPF}scheme"): e.text for e in meta.findall(f"{DC}identifier")}
            assert ids["calibre"] == str(book_id) and ids["uuid"] == uuid
        assert con.execute("SELECT COUNT(*) FROM library_id").fetchone() == (1,)
        prefs = dict(con.execute("SELECT key, val FROM preferences"))
        assert prefs["bools_are_tristate"] == "true"
        # every book folder on disk is in the database
        on_disk = {p.parent.relative_to(library).as_posix() for p in library.rglob("metadata.opf")}
        assert on_disk == {r[3] for r in rows}
    finally:
        con.close()


def test_title_and_author_sort() -> None:
    assert title_sort("The Lantern Keepers 1") == "Lantern Keepers 1, The"
    assert title_sort("Captain Comet #001") == "Captain Comet #001"
    assert author_sort("Jun Park") == "Park, Jun"
    assert construct_path_name(4, "A: B", "Jun Park") == "Jun Park/A_ B (4)"


@pytest.mark.skipif(shutil.which("calibredb") is None, reason="calibredb is not installed")
def test_real_calibredb_lists_the_library(demo: DemoSummary) -> None:
    library = demo.sources["calibre"].root
    result = subprocess.run(
        [
            "calibredb",
            "list",
            "--with-library",
            str(library),
            "--for-machine",
            "--fields",
            "title,authors,tags,series,publisher,formats",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    listed = sorted(json.loads(result.stdout), key=lambda b: b["id"])
    expected = _listing(library)
    assert [b["title"] for b in listed] == [b["title"] for b in expected]
    for got, want in zip(listed, expected, strict=True):
        assert got["authors"] == want["authors"]
        assert sorted(got["tags"]) == want["tags"]
        assert got.get("series") == want["series"]
        assert got.get("publisher") == want["publisher"]
        assert sorted(Path(f).name for f in got["formats"]) == sorted(
            Path(f).name
            for f in want["formats"]  # type: ignore[attr-defined]
        )
