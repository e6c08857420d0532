"""ComicInfo.xml with the platform's page types, written beside (never into) the user's books.

Per book of a collection: its own metadata as comicbox reads it (its ComicInfo.xml, inside an
archive, beside an image folder or embedded in a PDF; a book without one: its MetronInfo,
CoMet or ComicBookInfo merged), with ``<Pages>`` rewritten from the lake: each page's predicted type
(``page_classes.CLASS_TO_COMICINFO``), ``DoublePage`` from ``is_spread``, ``ImageWidth``,
``ImageHeight`` and ``ImageSize``; every other attribute of a page the book already listed
(``Key``, ``Bookmark``) and every other field stays. A book without metadata of its own gets
the books table's title, series, issue, publisher and year. comicbox writes the XML.

Layout under ``out_dir`` (the library's own folders, one folder per book)::

    <relative folder>/<book name>/ComicInfo.xml
    <relative folder>/<book name>.cbz      (with_cbz, for books that are zip archives: a copy
                                             with that ComicInfo.xml in place of the old one)

``<book name>`` is the file name without its comic suffix (an image folder's or a group of
loose pages' own name); two books of one folder with the same name (a Calibre book as CBZ
and PDF) get their format added: ``Title (pdf)``. Files are written to a temporary name and
renamed; the books themselves are only read.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from comix_resources.page_classes import CLASS_TO_COMICINFO
from comix_resources.sources import (
    COMIC_EXTENSIONS,
    BookFile,
    comicbox_metadata,
    comicbox_settings,
)

COMICINFO_NAME = "ComicInfo.xml"


@dataclass(frozen=True)
class ExportedBook:
    book_id: str
    relative_path: str  # the book's, in its source
    comicinfo: Path
    cbz: Path | None  # the copy with the ComicInfo inside, when asked for and a zip
    pages: int  # <Page> elements written
    typed_pages: int  # of which with a predicted type


def export_collection(
    books: pl.DataFrame,
    pages: pl.DataFrame,
    page_types: pl.DataFrame | None,
    out_dir: Path,
    with_cbz: bool = False,
) -> list[ExportedBook]:
    """Write the ComicInfo.xml (and with ``with_cbz`` the CBZ copy) of every readable book of
    one collection's ``books`` table under ``out_dir``."""
    types: dict[str, str] = {}
    if page_types is not None:
        types = dict(zip(page_types["page_id"], page_types["page_type"], strict=True))
    by_book = {
        key[0]: frame.sort("page_index")
        for key, frame in pages.partition_by("book_id", as_dict=True).items()
    }
    taken: set[Path] = set()
    written = []
    for row in books.filter(pl.col("status") == "ok").sort("relative_path").iter_rows(named=True):
        book_pages = by_book.get(row["book_id"])
        if book_pages is None:
            continue
        target = _book_folder(out_dir, row, taken)
        metadata = _merged_metadata(row, book_pages, types)
        xml = _comicinfo_xml(metadata)
        comicinfo = target / COMICINFO_NAME
        _write_atomic(comicinfo, xml.encode("utf-8"))
        cbz = None
        if with_cbz and row["container"] == "zip":
            cbz = target.with_name(target.name + ".cbz")
            _copy_zip_with(Path(os.fsdecode(row["raw_path"])), cbz, xml.encode("utf-8"))
        typed = sum(1 for page_id in book_pages["page_id"] if types.get(page_id))
        written.append(
            ExportedBook(
                row["book_id"], row["relative_path"], comicinfo, cbz, book_pages.height, typed
            )
        )
    return written


def _book_folder(out_dir: Path, row: Mapping[str, Any], taken: set[Path]) -> Path:
    relative = PurePosixPath(row["relative_path"])
    name = _without_comic_suffix(relative.name) if row["grouping"] == "file" else relative.name
    folder = Path(out_dir, *relative.parent.parts, name)
    if folder in taken:
        folder = folder.with_name(f"{name} ({row['format']})")
    taken.add(folder)
    return folder


def _without_comic_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(COMIC_EXTENSIONS, key=len, reverse=True):  # .tar.gz before .gz
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _merged_metadata(
    row: Mapping[str, Any], pages: pl.DataFrame, types: Mapping[str, str]
) -> dict[str, Any]:
    book = BookFile(
        path=Path(os.fsdecode(row["raw_path"])),
        relative_path=row["relative_path"],
        format=row["format"],
        size=row["bytes"] or 0,
        mtime_ns=0,
        grouping=row["grouping"] or "file",
    )
    metadata = comicbox_metadata(book)
    if not metadata:
        metadata = _from_books_row(row)
    listed = {int(index): dict(page) for index, page in (metadata.get("pages") or {}).items()}
    for page in pages.iter_rows(named=True):
        entry = listed.setdefault(int(page["page_index"]), {})
        predicted = types.get(page["page_id"])
        if predicted in CLASS_TO_COMICINFO:
            entry["page_type"] = CLASS_TO_COMICINFO[predicted]
        entry["double_page"] = bool(page["is_spread"])
        if page["width"] and page["height"]:
            entry["width"], entry["height"] = int(page["width"]), int(page["height"])
        if page["bytes"]:
            entry["size"] = int(page["bytes"])
    metadata["pages"] = dict(sorted(listed.items()))
    return metadata


def _from_books_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the books table knows, in comicbox's schema, for a book without metadata."""
    found: dict[str, Any] = {}
    if row["title"]:
        found["title"] = row["title"]
    if row["series"]:
        found["series"] = {"name": row["series"]}
    if row["issue"]:
        found["issue"] = {"name": row["issue"]}
    if row["publisher"]:
        found["publisher"] = {"name": row["publisher"]}
    if row["year"]:
        found["date"] = {"year": int(row["year"])}
    return found


def _comicinfo_xml(metadata: Mapping[str, Any]) -> str:
    from comicbox.box import Comicbox
    from comicbox.formats import MetadataFormats

    with Comicbox(None, config=comicbox_settings()) as box:
        box.set_internal_metadata({"comicbox": dict(metadata)})
        return box.to_string(MetadataFormats.COMIC_INFO)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _copy_zip_with(source: Path, target: Path, comicinfo: bytes) -> None:
    """A copy of the zip ``source`` whose ComicInfo.xml (at the top, any case) is
    ``comicinfo``: every other entry streamed across with its name, time and compression."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(temporary, "w") as new:
        seen: set[str] = set()
        for info in old.infolist():
            if info.filename.lower() == COMICINFO_NAME.lower() or info.filename in seen:
                continue  # the old ComicInfo, and the later copies of a name listed twice
            seen.add(info.filename)
            if info.is_dir():
                new.writestr(info, b"")
                continue
            with old.open(info) as reading, new.open(_copied_info(info), "w") as writing:
                shutil.copyfileobj(reading, writing, 1 << 20)
        entry = zipfile.ZipInfo(COMICINFO_NAME, date_time=(1980, 1, 1, 0, 0, 0))
        entry.compress_type = zipfile.ZIP_DEFLATED
        new.writestr(entry, comicinfo)
    os.replace(temporary, target)


def _copied_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copied = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copied.compress_type = info.compress_type
    copied.external_attr = info.external_attr
    copied.comment = info.comment
    copied.file_size = info.file_size  # so zipfile writes a zip64 header when one is needed
    return copied
