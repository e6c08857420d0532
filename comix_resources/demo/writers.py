"""Book writers: PDF, CBZ, CB7 and CBT (plain or gzip-compressed), all byte-deterministic.

Every writer takes the already encoded JPEG pages, so the bytes inside the container are
exactly the bytes of the page image. Archive entries carry a fixed timestamp
(``FIXED_TIME``), PDFs fixed metadata dates and no random file id. Files are written to a
temporary name and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import py7zr
from py7zr.helpers import ArchiveTimestamp

FIXED_TIME = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
PDF_DATE = "D:20240101120000+00'00'"

# ComicInfo.xml page types (anansi-project schema v2.0) for our page types
COMICINFO_PAGE_TYPES = {
    "cover": "FrontCover",
    "credits": "Editorial",
    "first-page": "Story",
    "story": "Story",
    "advertisement": "Advertisement",
    "textstory": "Other",
    "art": "Other",
    "back_cover": "BackCover",
    "non_comic": "Deleted",
}


@dataclass(frozen=True)
class EncodedPage:
    name: str  # file name inside an archive, e.g. page_001.jpg
    data: bytes  # JPEG bytes
    width: int
    height: int
    page_type: str
    is_spread: bool


@dataclass(frozen=True)
class BookMeta:
    title: str
    series: str
    number: str
    publisher: str
    year: int
    writer: str
    artist: str
    summary: str
    manga: bool = False


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def comic_info_xml(meta: BookMeta, pages: Sequence[EncodedPage]) -> bytes:
    fields = [
        ("Title", meta.title),
        ("Series", meta.series),
        ("Number", meta.number),
        ("Summary", meta.summary),
        ("Year", str(meta.year)),
        ("Writer", meta.writer),
        ("Penciller", meta.artist),
        ("Publisher", meta.publisher),
        ("PageCount", str(len(pages))),
        ("LanguageISO", "en"),
        ("Manga", "YesAndRightToLeft" if meta.manga else "No"),
    ]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    ]
    lines += [f"  <{tag}>{escape(value)}</{tag}>" for tag, value in fields]
    lines.append("  <Pages>")
    for i, page in enumerate(pages):
        spread = ' DoublePage="true"' if page.is_spread else ""
        lines.append(
            f'    <Page Image="{i}" Type="{COMICINFO_PAGE_TYPES[page.page_type]}"{spread} '
            f'ImageSize="{len(page.data)}" ImageWidth="{page.width}" '
            f'ImageHeight="{page.height}" />'
        )
    lines += ["  </Pages>", "</ComicInfo>", ""]
    return "\n".join(lines).encode("utf-8")


def _members(meta: BookMeta, pages: Sequence[EncodedPage]) -> list[tuple[str, bytes]]:
    return [(p.name, p.data) for p in pages] + [("ComicInfo.xml", comic_info_xml(meta, pages))]


def cbz_bytes(meta: BookMeta, pages: Sequence[EncodedPage]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _members(meta, pages):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            # JPEGs are stored as they are (like most CBZs); the XML is deflated
            info.compress_type = (
                zipfile.ZIP_DEFLATED if name.endswith(".xml") else zipfile.ZIP_STORED
            )
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data)
    return buf.getvalue()


def cbt_bytes(meta: BookMeta, pages: Sequence[EncodedPage], compress: bool = False) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in _members(meta, pages):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(FIXED_TIME.timestamp())
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    if not compress:
        return raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


class _FixedTime7z(py7zr.SevenZipFile):
    """py7zr stamps in-memory members with the current time; use FIXED_TIME instead."""

    @staticmethod
    def _make_file_info_from_name(bio: Any, size: int, arcname: str) -> Any:
        info = py7zr.SevenZipFile._make_file_info_from_name(bio, size, arcname)
        stamp = ArchiveTimestamp.from_datetime(FIXED_TIME.timestamp())
        info["creationtime"] = info["lastwritetime"] = info["lastaccesstime"] = stamp
        return info


def cb7_bytes(meta: BookMeta, pages: Sequence[EncodedPage]) -> bytes:
    buf = io.BytesIO()
    with _FixedTime7z(buf, "w") as archive:
        for name, data in _members(meta, pages):
            archive.writestr(data, name)
    return buf.getvalue()


def pdf_bytes(meta: BookMeta, pages: Sequence[EncodedPage]) -> bytes:
    """One page per image; the page size in points equals the image size in pixels.

    So rendering a page at 72 dpi gives the image size, and the embedded image stream is
    the JPEG file itself (DCTDecode), extractable byte for byte.
    """
    import pymupdf  # loads onnxruntime: only when a PDF is written

    doc = pymupdf.open()
    try:
        for page in pages:
            pdf_page = doc.new_page(width=page.width, height=page.height)
            pdf_page.insert_image(pdf_page.rect, stream=page.data)
        doc.set_metadata(
            {
                "title": meta.title,
                "author": meta.writer,
                "subject": meta.series,
                "keywords": f"{meta.series}, {meta.publisher}",
                "creator": "comix demo-library",
                "producer": "comix demo-library",
                "creationDate": PDF_DATE,
                "modDate": PDF_DATE,
            }
        )
        return doc.tobytes(garbage=3, deflate=True, no_new_id=True)
    finally:
        doc.close()


def book_bytes(fmt: str, meta: BookMeta, pages: Sequence[EncodedPage]) -> bytes:
    """Encode a book; ``fmt`` is pdf, cbz, cb7, cbt or cbt.gz (a gzip-compressed .cbt)."""
    if fmt == "pdf":
        return pdf_bytes(meta, pages)
    if fmt == "cbz":
        return cbz_bytes(meta, pages)
    if fmt == "cb7":
        return cb7_bytes(meta, pages)
    if fmt == "cbt":
        return cbt_bytes(meta, pages)
    if fmt == "cbt.gz":
        return cbt_bytes(meta, pages, compress=True)
    raise ValueError(f"unknown demo book format {fmt!r}")


def extension(fmt: str) -> str:
    """File extension for a format; the compressed tar is still named ``.cbt``."""
    return ".cbt" if fmt == "cbt.gz" else f".{fmt}"
