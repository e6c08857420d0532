from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from comix_resources.sources import CalibreSource

KEY = re.compile(r"^[a-z0-9_-]+$")
HUMBLE = "Humble Bundle: Golden Age Sci-Fi"
CBZ = "Unknown/Captain Science #001 (1)/Captain Science #001 - Unknown.cbz"
CBR = "Unknown/Captain Science #001 (CBR scan) (2)/Captain Science #001 (CBR scan) - Unknown.cbr"
CB7 = "Unknown/Captain Science #001 (CB7 scan) (3)/Captain Science #001 (CB7 scan) - Unknown.cb7"
PDF = "Jon Osterman/the tangle of their lives (4)/the tangle of their lives - Jon Osterman.pdf"


def edit(library: Path, *statements: tuple[str, tuple]) -> None:
    with sqlite3.connect(library / "metadata.db") as db:
        # Calibre's triggers call functions that calibre registers on its connections.
        db.create_function("title_sort", 1, lambda title: title)
        db.create_function("uuid4", 0, lambda: "00000000-0000-4000-8000-000000000000")
        for sql, params in statements:
            db.execute(sql, params)


def test_collections_by_tag(calibre_library: Path) -> None:
    source = CalibreSource(calibre_library)
    collections = source.collections()
    assert [(c.key, c.name) for c in collections] == [
        ("drivethrucomics", "DriveThruComics"),
        ("humble-bundle-golden-age-sci-fi", HUMBLE),
    ]
    humble = source.collection("humble-bundle-golden-age-sci-fi")
    assert [(b.relative_path, b.format) for b in humble.books] == [(CBZ, "cbz"), (CBR, "cbr")]
    drive = source.collection("drivethrucomics")
    assert [(b.relative_path, b.format) for b in drive.books] == [(PDF, "pdf"), (CB7, "cb7")]

    cbz = humble.books[0]
    assert cbz.path == calibre_library / CBZ
    assert cbz.size == 23606 == cbz.path.stat().st_size
    assert cbz.mtime_ns == cbz.path.stat().st_mtime_ns
    assert dict(cbz.catalog) == {
        "calibre_id": 1,
        "title": "Captain Science #001",
        "authors": ("Unknown",),
        "tags": (HUMBLE,),
        "series": "Captain Science",
        "series_index": 1.0,
        "publisher": None,
        "year": None,  # calibre's "undefined" pubdate 0101-01-01
        "identifiers": {},
        "uuid": "04d55a95-9149-445c-817e-7b7df51a0e81",
        "formats": ("CBZ",),
    }
    pdf = drive.books[0]
    assert pdf.catalog["authors"] == ("Jon Osterman",)
    assert pdf.catalog["series"] == "Tangle"
    # A series index without a series means nothing.
    assert drive.books[1].catalog["series"] is None
    assert drive.books[1].catalog["series_index"] is None


def test_keys_safe_and_stable(calibre_library: Path) -> None:
    for by in ("tag", "series", "publisher"):
        first = [c.key for c in CalibreSource(calibre_library, by).collections()]
        second = [c.key for c in CalibreSource(calibre_library, by).collections()]
        assert first == second
        assert all(KEY.match(key) for key in first), first


def test_collections_by_series_and_publisher(calibre_library: Path) -> None:
    by_series = CalibreSource(calibre_library, "series").collections()
    assert {c.name: [b.relative_path for b in c.books] for c in by_series} == {
        "Captain Science": [CBZ],
        "Tangle": [PDF],
        "No series": [CB7, CBR],
    }
    assert [c.key for c in by_series] == ["captain-science", "no-series", "tangle"]
    by_publisher = CalibreSource(calibre_library, "publisher").collections()
    assert [(c.key, c.name, len(c.books)) for c in by_publisher] == [
        ("no-publisher", "No publisher", 4)
    ]


def test_invalid_collection_by(calibre_library: Path) -> None:
    with pytest.raises(ValueError, match="collection_by must be one of"):
        CalibreSource(calibre_library, "author")


def test_unknown_key(calibre_library: Path) -> None:
    with pytest.raises(KeyError, match="no collection with partition key 'nope'"):
        CalibreSource(calibre_library).collection("nope")


def test_preferred_format_missing_files_and_edits(library_copy: Path) -> None:
    book1 = library_copy / "Unknown/Captain Science #001 (1)"
    (book1 / "Captain Science #001 - Unknown.pdf").write_bytes(b"%PDF-1.4")
    edit(
        library_copy,
        # Book 1 also in PDF and MOBI: still read from the CBZ.
        (
            "INSERT INTO data (book, format, uncompressed_size, name) VALUES (1, 'PDF', 8, ?)",
            ("Captain Science #001 - Unknown",),
        ),
        (
            "INSERT INTO data (book, format, uncompressed_size, name) VALUES (1, 'MOBI', 8, ?)",
            ("Captain Science #001 - Unknown",),
        ),
        # Book 3 only as AZW3: no comic format, skipped.
        ("UPDATE data SET format = 'AZW3' WHERE book = 3", ()),
        # A second tag, a publisher, a pubdate and an identifier on book 2.
        ("INSERT INTO tags (id, name) VALUES (3, 'Sci Fi')", ()),
        ("INSERT INTO tags (id, name) VALUES (4, 'Sci-Fi')", ()),
        ("INSERT INTO books_tags_link (book, tag) VALUES (2, 3)", ()),
        ("INSERT INTO books_tags_link (book, tag) VALUES (2, 4)", ()),
        ("INSERT INTO publishers (id, name) VALUES (1, 'Youthful')", ()),
        ("INSERT INTO books_publishers_link (book, publisher) VALUES (2, 1)", ()),
        ("UPDATE books SET pubdate = '1950-11-01 00:00:00+00:00' WHERE id = 2", ()),
        ("INSERT INTO identifiers (book, type, val) VALUES (2, 'isbn', '123')", ()),
    )
    # Book 4's file is gone from disk: still listed, with size and mtime 0.
    (library_copy / PDF).unlink()

    source = CalibreSource(library_copy)
    by_name = {c.name: c for c in source.collections()}
    assert set(by_name) == {HUMBLE, "DriveThruComics", "Sci Fi", "Sci-Fi"}
    cbz = next(b for b in by_name[HUMBLE].books if b.catalog["calibre_id"] == 1)
    assert cbz.format == "cbz" and cbz.relative_path == CBZ
    assert cbz.catalog["formats"] == ("CBZ", "MOBI", "PDF")

    assert [b.catalog["calibre_id"] for b in by_name["DriveThruComics"].books] == [4]
    missing = by_name["DriveThruComics"].books[0]
    assert (missing.size, missing.mtime_ns) == (0, 0)
    assert not missing.path.exists()

    # A book with several tags is in several collections; colliding slugs stay distinct.
    keys = {c.name: c.key for c in source.collections()}
    assert keys["Sci Fi"] == "sci-fi"
    assert re.match(r"^sci-fi-[0-9a-f]{6}$", keys["Sci-Fi"])
    cbr = by_name["Sci-Fi"].books[0]
    assert by_name["Sci Fi"].books == (cbr,)
    assert cbr.catalog["tags"] == (HUMBLE, "Sci Fi", "Sci-Fi")
    assert cbr.catalog["publisher"] == "Youthful"
    assert cbr.catalog["year"] == 1950
    assert dict(cbr.catalog["identifiers"]) == {"isbn": "123"}

    # Untagged books get their own collection.
    edit(library_copy, ("DELETE FROM books_tags_link WHERE book = 4", ()))
    untagged = CalibreSource(library_copy).collection("untagged")
    assert untagged.name == "Untagged"
    assert [b.catalog["calibre_id"] for b in untagged.books] == [4]


def test_reads_without_writing(library_copy: Path) -> None:
    """The database is opened read-only: no journal, no change, works on a read-only file."""
    database = library_copy / "metadata.db"
    before = (database.read_bytes(), database.stat().st_mtime_ns, sorted(library_copy.iterdir()))
    database.chmod(0o444)
    assert len(CalibreSource(library_copy).collections()) == 2
    after = (database.read_bytes(), database.stat().st_mtime_ns, sorted(library_copy.iterdir()))
    assert before == after
