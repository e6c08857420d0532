"""`comix export-comicinfo`: predicted page types written into ComicInfo.xml beside the books,
every other field kept, the user's files untouched."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from comix_resources.books import book_paths_to_extract, build_books_table, with_declared_spreads
from comix_resources.comicinfo_export import export_collection
from comix_resources.fingerprints import FingerprintCache
from comix_resources.lake import Lake
from comix_resources.page_store import extract_collection
from comix_resources.pages import ExtractionLimits
from comix_resources.sources import FolderTreeSource
from comix_resources.tables import BOOKS, PAGE_TYPES, PAGES
from tests.hostile import drawn_page
from tests.sources.conftest import fixture_dir


def comicbox_read(xml: bytes) -> dict:
    """What comicbox reads from a ComicInfo.xml, in its own schema."""
    from comicbox.box import Comicbox
    from comicbox.formats import MetadataFormats
    from comicbox.formats.sources import MetadataSources

    from comix_resources.sources import comicbox_settings

    with Comicbox(None, config=comicbox_settings()) as box:
        box.add_source(MetadataSources.ARCHIVE_FILE, xml, MetadataFormats.COMIC_INFO, "x.xml")
        return dict(box.get_internal_metadata()["comicbox"])


def holds(exported: object, original: object) -> bool:
    """``exported`` says all that ``original`` says: the same value, or for a mapping or a list
    at least its entries (the export may add what the book's other metadata files say; lists
    are texts in any order, ComicInfo keeps `Web` as one sorted field)."""
    if isinstance(original, dict) and isinstance(exported, dict):
        return all(k in exported and holds(exported[k], v) for k, v in original.items())
    if isinstance(original, list) and isinstance(exported, list):
        return set(map(str, original)) <= set(map(str, exported))
    return exported == original


def own_comicinfo(book: Path) -> bytes | None:
    """The ComicInfo.xml a book carries (top level of a zip, embedded in a PDF), as stored."""
    if book.suffix == ".pdf":
        import pymupdf

        with pymupdf.open(book) as document:
            names = [n for n in document.embfile_names() if n.lower() == "comicinfo.xml"]
            return document.embfile_get(names[0]) if names else None
    if not zipfile.is_zipfile(book):
        return None
    with zipfile.ZipFile(book) as archive:
        names = [n for n in archive.namelist() if n.lower() == "comicinfo.xml"]
        return archive.read(names[0]) if names else None


def digests(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library" / "amazon"
    shelf = root / "Shelf"
    shelf.mkdir(parents=True)
    shutil.copy(fixture_dir("real_archives/readium") / "test-comicinfo.cbz", shelf)
    shutil.copy(fixture_dir("comicbox") / "Captain Science #001.cbz", shelf)
    shutil.copy(fixture_dir("comicbox") / "test_cix.pdf", shelf)  # its ComicInfo is embedded
    download = shelf / "aebf949665b14a90a6737274051ce527"  # an app download, no metadata
    pages = [("b2", drawn_page(1)), ("a1", drawn_page(2))]
    manifest = {
        "book_uuid": "aebf",
        "title": "Hellboy #1",
        "pages": [
            {"sort_order": 1, "src_image": "b2", "mime_type": "image/jpeg"},
            {"sort_order": 2, "src_image": "a1", "mime_type": "image/jpeg"},
        ],
    }
    with tarfile.open(download, "w") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *pages]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root


def materialize(library: Path, lake: Lake, cache: Path) -> None:
    """books and pages of the collection into the lake, and page types as a model would say:
    the first page a cover, the last a back cover, the others story."""
    [collection] = FolderTreeSource("amazon", library).collections()
    books = build_books_table("amazon", collection, FingerprintCache(cache), ExtractionLimits())
    assert books["status"].to_list() == ["ok"] * 4, books["error"].to_list()
    pages, failures = extract_collection(
        lake,
        lake.partition_path("amazon", collection.key, "pages"),
        book_paths_to_extract(books),
        ExtractionLimits(),
    )
    assert failures == {}
    pages = with_declared_spreads(pages, books)
    last = pl.col("page_index") == pl.col("page_index").max().over("book_id")
    types = pages.select(
        "page_id",
        page_type=pl.when(pl.col("page_index") == 0)
        .then(pl.lit("cover"))
        .when(last)
        .then(pl.lit("back_cover"))
        .otherwise(pl.lit("story")),
    )
    BOOKS.write(lake, books, "amazon", collection.key)
    PAGES.write(lake, pages, "amazon", collection.key)
    lake.write_parquet(PAGE_TYPES.path(lake, "amazon", collection.key), types)


def test_export_keeps_every_field_and_writes_the_pages(library: Path, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    materialize(library, lake, tmp_path / "fp.sqlite")
    before = digests(library)
    books = BOOKS.read(lake, "amazon", "shelf")
    pages = PAGES.read(lake, "amazon", "shelf")
    types = lake.read_parquet(PAGE_TYPES.path(lake, "amazon", "shelf"))
    out = tmp_path / "out"

    written = export_collection(books, pages, types, out, with_cbz=True)

    assert digests(library) == before  # the books were only read
    by_path = {book.relative_path: book for book in written}
    assert set(by_path) == set(books["relative_path"])
    readium = by_path["Shelf/test-comicinfo.cbz"]
    assert readium.comicinfo == out / "Shelf" / "test-comicinfo" / "ComicInfo.xml"
    assert readium.cbz == out / "Shelf" / "test-comicinfo.cbz"
    assert by_path["Shelf/test_cix.pdf"].cbz is None  # only zip books get a copy

    for relative, book in by_path.items():
        row = books.filter(pl.col("relative_path") == relative).row(0, named=True)
        exported = comicbox_read(book.comicinfo.read_bytes())
        own = own_comicinfo(library / relative)
        if own is not None:
            # every field comicbox reads in the book's own ComicInfo.xml reads back the same
            for key, value in comicbox_read(own).items():
                if key not in ("pages", "page_count"):
                    assert holds(exported.get(key), value), (relative, key, exported.get(key))
        book_pages = pages.filter(pl.col("book_id") == row["book_id"]).sort("page_index")
        listed = exported["pages"]
        assert sorted(listed) == list(range(book_pages.height))
        for page in book_pages.iter_rows(named=True):
            entry = listed[page["page_index"]]
            last = page["page_index"] == book_pages.height - 1
            expected = "FrontCover" if page["page_index"] == 0 else "BackCover" if last else "Story"
            assert getattr(entry["page_type"], "value", entry["page_type"]) == expected
            assert (entry["width"], entry["height"]) == (page["width"], page["height"])
            assert entry["size"] == page["bytes"]
            assert bool(entry.get("double_page")) == page["is_spread"]

    readium_pages = comicbox_read(readium.comicinfo.read_bytes())["pages"]
    assert readium_pages[2]["double_page"] is True  # the owner's DoublePage stays
    app = comicbox_read(by_path["Shelf/aebf949665b14a90a6737274051ce527"].comicinfo.read_bytes())
    assert app["title"] == "Hellboy #1"  # no metadata of its own: the books table's

    # the copy: the same entries and bytes, with the new ComicInfo.xml in place of the old
    with (
        zipfile.ZipFile(library / "Shelf" / "test-comicinfo.cbz") as old,
        zipfile.ZipFile(readium.cbz) as new,
    ):
        keep = [i.filename for i in old.infolist() if i.filename != "ComicInfo.xml"]
        assert [i.filename for i in new.infolist()] == [*keep, "ComicInfo.xml"]
        assert all(old.read(name) == new.read(name) for name in keep)
        assert new.read("ComicInfo.xml") == readium.comicinfo.read_bytes()
        assert new.testzip() is None


def test_command_writes_outside_the_library_only(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comix_assets.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(library))
    for variable in ("COMIX_DARKHORSE_ROOT", "COMIX_CALIBRE_LIBRARY", "COMIX_LAKE_URL"):
        monkeypatch.delenv(variable, raising=False)
    materialize(library, Lake(str(home / "lake")), tmp_path / "fp.sqlite")
    runner = CliRunner()

    inside = runner.invoke(app, ["export-comicinfo", str(library / "exports")])
    assert inside.exit_code == 2
    assert "inside the amazon library" in inside.output
    assert not (library / "exports").exists()

    done = runner.invoke(app, ["export-comicinfo", str(tmp_path / "out"), "--cbz"])
    assert done.exit_code == 0, done.output
    assert "amazon/shelf: 4 books" in done.output
    assert "4 ComicInfo.xml and 2 CBZ copies" in done.output
    assert len(list((tmp_path / "out" / "amazon").rglob("ComicInfo.xml"))) == 4
