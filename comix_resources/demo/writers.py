"""Book writers: PDF, CBZ, CB7 and CBT (plain or gzip-compressed), Dark Horse app downloads
(a tar or an unpacked folder with its manifest) and loose page files, all byte-deterministic.

Every writer takes the already encoded JPEG pages, so the bytes inside the container are
exactly the bytes of the page image. Archive entries carry a fixed timestamp
(``FIXED_TIME``), PDFs fixed metadata dates and no random file id. Files are written to a
temporary name and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import py7zr
from PIL import Image
from py7zr.helpers import ArchiveTimestamp

from comix_resources.page_classes import CLASS_TO_COMICINFO

FIXED_TIME = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
PDF_DATE = "D:20240101120000+00'00'"
APP_MANIFEST = "manifest.json"


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
            f'    <Page Image="{i}" Type="{CLASS_TO_COMICINFO[page.page_type]}"{spread} '
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


# Dark Horse app downloads ------------------------------------------------------------------
def app_member_id(key: str, index: int) -> str:
    """The id a page of an app download is stored under (no extension), like the store's."""
    return hashlib.sha256(f"{key}:page:{index}".encode()).hexdigest()[:32]


def app_manifest(
    key: str, book_uuid: str, title: str, rtl: bool, pages: Sequence[EncodedPage]
) -> bytes:
    """The manifest of an app download. Pages are listed in the order of their ids, not of
    ``sort_order`` (1-based), so a reader that trusts either the listing or the names fails."""
    listed = [
        {"sort_order": index + 1, "src_image": app_member_id(key, index), "mime_type": "image/jpeg"}
        for index in range(len(pages))
    ]
    listed.sort(key=lambda page: page["src_image"])
    document = {"book_uuid": book_uuid, "title": title, "is_rtl": rtl, "pages": listed}
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


def app_download_members(
    key: str, book_uuid: str, title: str, rtl: bool, pages: Sequence[EncodedPage]
) -> list[tuple[str, bytes]]:
    """``manifest.json`` and the page images under their ids, ids in name order."""
    images = sorted((app_member_id(key, i), page.data) for i, page in enumerate(pages))
    return [(APP_MANIFEST, app_manifest(key, book_uuid, title, rtl, pages)), *images]


def app_tar_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    """A plain tar, as the apps received it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(FIXED_TIME.timestamp())
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def write_folder(folder: Path, members: Sequence[tuple[str, bytes]]) -> None:
    """An unpacked download: the members as files of ``folder``, with the fixed timestamp."""
    for name, data in members:
        atomic_write(folder / name, data)
        os.utime(folder / name, (FIXED_TIME.timestamp(), FIXED_TIME.timestamp()))


# loose pages ---------------------------------------------------------------------------------
def loose_page_bytes(page: EncodedPage, file_name: str) -> bytes:
    """A page as a file of its own: a ``.png`` name (``p000.jpg.png``, a converter's output)
    holds the JPEG's pixels as PNG, any other name the JPEG itself."""
    if not file_name.lower().endswith(".png"):
        return page.data
    with Image.open(io.BytesIO(page.data)) as image:
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False)
        return out.getvalue()
