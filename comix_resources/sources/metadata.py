"""Book-level metadata (title, series, issue, ...) from the catalog and the comic file itself.

Archives are read with comicbox (ComicInfo.xml, MetronInfo.xml, CoMet.xml, ComicBookInfo in the
zip/rar comment), PDFs with PyMuPDF (document info plus an embedded ComicInfo.xml, which
comicbox then parses), image folders from sidecar ComicInfo.xml-style files. Everything here
only reads: comicbox is driven through its read API alone (never ``run()``/``dump()``), with no
write formats and online lookup off, so a user's files are never modified and nothing touches
the network.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comix_resources.sources.model import BookFile

if TYPE_CHECKING:
    from comicbox.box import Comicbox
    from comicbox.config.settings import ComicboxSettings
    from comicbox.formats import MetadataFormats

log = logging.getLogger(__name__)

# Which metadata format supplied the data, in order of preference when a book has several:
# comicbox format name -> the origin label we report.
ORIGIN_BY_FORMAT: dict[str, str] = {
    "COMIC_INFO": "ComicInfo.xml",
    "METRON_INFO": "MetronInfo",
    "COMET": "CoMet",
    "COMIC_BOOK_INFO": "ComicBookInfo",
}
ORIGIN_CALIBRE = "Calibre"
ORIGIN_PDF = "PDF info"

# Calibre's placeholder author for books without one: not a real creator.
_CALIBRE_UNKNOWN_AUTHOR = "Unknown"
# A metadata file bigger than this is not metadata: refuse it rather than load a bomb.
_MAX_METADATA_BYTES = 4 << 20
# Bounds of what a book's metadata may hold (a hostile ComicInfo can carry a 10 MB title).
MAX_TEXT_CHARS = 1_000
MAX_ISSUE_CHARS = 64
MAX_AUTHORS = 100
MAX_AUTHOR_CHARS = 200
MIN_YEAR, MAX_YEAR = 1000, 9999
_WRITER_ROLES = frozenset({"writer", "author", "script", "plotter", "scripter", "story"})


@dataclass(frozen=True)
class ComicMetadata:
    title: str | None = None
    series: str | None = None
    issue: str | None = None
    publisher: str | None = None
    year: int | None = None
    # "ComicInfo.xml" | "MetronInfo" | "CoMet" | "ComicBookInfo" | "Calibre" | "PDF info" | None
    origin: str | None = None
    authors: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.origin is None


EMPTY_METADATA = ComicMetadata()
_FIELDS = ("title", "series", "issue", "publisher", "year", "authors")


def read_comic_metadata(book: BookFile) -> ComicMetadata:
    """What is known about a book: the catalog's values first, gaps filled from the file.

    Never raises for a bad, missing or unreadable file: the result is then the catalog's values
    alone, or empty metadata (``origin`` None). Values are bounded (``bounded``).
    """
    try:
        from_file = _read_file(book)
    except Exception as exc:  # a broken file must not stop the partition
        log.debug("no metadata from %s: %s", book.path, exc, exc_info=True)
        from_file = EMPTY_METADATA
    if not book.catalog:
        return bounded(from_file)
    try:
        return bounded(_with_catalog(book.catalog, from_file))
    except Exception as exc:  # a malformed catalog mapping: keep what the file says
        log.debug("bad catalog for %s: %s", book.path, exc, exc_info=True)
        return bounded(from_file)


def bounded(metadata: ComicMetadata) -> ComicMetadata:
    """Metadata a table can hold and a person can read: texts cut at ``MAX_TEXT_CHARS``, at
    most ``MAX_AUTHORS`` authors, and a year only when it is a four-digit year (a ComicInfo
    ``<Year>`` of 2147483648 is a typo or an attack, not a date)."""

    def text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
        if value is None:
            return None
        value = str(value)
        return value if len(value) <= limit else value[: limit - 1] + "\u2026"

    year = metadata.year
    try:
        year = int(year) if year is not None and MIN_YEAR <= int(year) <= MAX_YEAR else None
    except (TypeError, ValueError):
        year = None
    return ComicMetadata(
        title=text(metadata.title),
        series=text(metadata.series),
        issue=text(metadata.issue, MAX_ISSUE_CHARS),
        publisher=text(metadata.publisher),
        year=year,
        origin=metadata.origin,
        authors=tuple(
            name
            for author in metadata.authors[:MAX_AUTHORS]
            if (name := text(author, MAX_AUTHOR_CHARS))
        ),
    )


def _read_file(book: BookFile) -> ComicMetadata:
    path = Path(book.path)
    if book.format == "folder":
        return _folder_metadata(path) if path.is_dir() else EMPTY_METADATA
    if not path.is_file():
        return EMPTY_METADATA
    if book.format == "pdf":
        return _pdf_metadata(path)
    return _archive_metadata(path)


def _with_catalog(catalog: Mapping[str, Any], from_file: ComicMetadata) -> ComicMetadata:
    authors = tuple(a for a in catalog.get("authors") or () if a != _CALIBRE_UNKNOWN_AUTHOR)
    series = catalog.get("series") or None
    # The series index only means something together with the catalog's series; otherwise
    # the file's series and issue go together.
    issue = _issue_text(catalog.get("series_index")) if series else None
    return ComicMetadata(
        title=catalog.get("title") or from_file.title,
        series=series or from_file.series,
        issue=issue or from_file.issue,
        publisher=catalog.get("publisher") or from_file.publisher,
        year=catalog.get("year") or from_file.year,
        origin=ORIGIN_CALIBRE,
        authors=authors or from_file.authors,
    )


# --- comicbox -------------------------------------------------------------------------------


@functools.cache
def _comicbox_config() -> ComicboxSettings:
    """Settings built once per process: parsing comicbox's config costs milliseconds a book.

    Imported here, not at module level, because comicbox takes most of a second to import and
    the Dagster code location should load fast.
    """
    from comicbox.config import get_config
    from loguru import logger

    # comicbox logs through loguru, warning about every odd tag it drops; those are not our
    # errors to show (and would flood a partition's logs). This silences only comicbox.
    logger.disable("comicbox")
    return get_config(
        {
            "comicbox": {
                # Only embedded metadata formats: no filename guessing (origin must be a real
                # tag), no PDF (needs the optional pdffile package; PyMuPDF reads it here).
                "read": {"formats": ["comicinfo", "metroninfo", "comet", "comicbookinfo"]},
                # Belt and braces: we never call run()/dump(), and nothing is set to write.
                "write": {"formats": []},
                "general": {"dry_run": True},
                "compute": {"page_count": False, "pages": False},
            }
        }
    )


@functools.cache
def _metadata_filenames() -> dict[str, MetadataFormats]:
    """Lower-case file names of in-archive metadata files (``comicinfo.xml``, ...)."""
    from comicbox.formats.sources import MetadataSources

    return {fmt.value.filename.lower(): fmt for fmt in MetadataSources.ARCHIVE_FILE.value.formats}


def _archive_metadata(path: Path) -> ComicMetadata:
    from comicbox.box import Comicbox

    with Comicbox(path, config=_comicbox_config()) as box:
        documents = _normalized_documents(box)
        if not documents and box.get_file_type() == "CBR" and not box.is_unrar_supported():
            # Without the non-free `unrar`, comicbox reads a RAR's comment (ComicBookInfo) but
            # not the files inside it; libarchive can, so hand it the metadata files it finds.
            found = _rar_metadata_files(path)
            if found:
                _add_documents(box, found)
                documents = _normalized_documents(box)
    return _pick(documents)


def _folder_metadata(folder: Path) -> ComicMetadata:
    names = _metadata_filenames()
    found = []
    for child in sorted(folder.iterdir()):
        fmt = names.get(child.name.lower())
        if fmt is not None and child.is_file() and child.stat().st_size <= _MAX_METADATA_BYTES:
            found.append((fmt, child.name, child.read_bytes()))
    return _from_documents(found)


def _from_documents(found: list[tuple[MetadataFormats, str, bytes]]) -> ComicMetadata:
    """Parse loose metadata files (sidecars, PDF attachments) with comicbox."""
    if not found:
        return EMPTY_METADATA
    from comicbox.box import Comicbox

    with Comicbox(None, config=_comicbox_config()) as box:
        _add_documents(box, found)
        return _pick(_normalized_documents(box))


def _add_documents(box: Comicbox, found: list[tuple[MetadataFormats, str, bytes]]) -> None:
    from comicbox.formats.sources import MetadataSources

    for fmt, name, data in found:
        box.add_source(MetadataSources.ARCHIVE_FILE, data, fmt, name)


def _rar_metadata_files(path: Path) -> list[tuple[MetadataFormats, str, bytes]]:
    import libarchive

    names = _metadata_filenames()
    best: dict[MetadataFormats, tuple[int, str, bytes]] = {}
    try:
        with libarchive.file_reader(str(path)) as archive:
            for entry in archive:
                name = entry.pathname or ""
                fmt = names.get(name.rsplit("/", 1)[-1].lower())
                if fmt is None or not entry.isfile or (entry.size or 0) > _MAX_METADATA_BYTES:
                    continue
                depth = name.strip("/").count("/")
                # Like comicbox: the shallowest file of each format wins.
                if fmt not in best or depth < best[fmt][0]:
                    best[fmt] = (depth, name, b"".join(entry.get_blocks()))
    except Exception as exc:  # solid RAR, encrypted headers, ...: keep the comment's data
        log.debug("libarchive cannot read %s: %s", path, exc)
    return [(fmt, name, data) for fmt, (_, name, data) in best.items()]


def _normalized_documents(box: Comicbox) -> list[tuple[str, Mapping[str, Any]]]:
    """Every metadata document comicbox found, as (format name, comicbox-schema dict)."""
    from comicbox.formats.sources import MetadataSources

    documents = []
    for source in MetadataSources:
        for loaded in box.get_normalized_metadata(source) or ():
            fmt = loaded.fmt.name if loaded.fmt else ""
            body = loaded.metadata.get("comicbox")
            if fmt in ORIGIN_BY_FORMAT and body:
                documents.append((fmt, body))
    return documents


def _pick(documents: list[tuple[str, Mapping[str, Any]]]) -> ComicMetadata:
    """Each field from the most preferred format that has it; origin is the best contributor."""
    rank = list(ORIGIN_BY_FORMAT)
    ordered = sorted(documents, key=lambda doc: rank.index(doc[0]))
    values: dict[str, Any] = {}
    origin = None
    for fmt, body in ordered:
        extracted = _extract(body)
        for name in _FIELDS:
            if name not in values and extracted[name]:
                values[name] = extracted[name]
                origin = origin or ORIGIN_BY_FORMAT[fmt]
    if origin is None:
        return EMPTY_METADATA
    return ComicMetadata(origin=origin, **values)


def _extract(body: Mapping[str, Any]) -> dict[str, Any]:
    stories = body.get("stories") or {}
    date = body.get("date") or {}
    year = date.get("year")
    if not year and date.get("cover_date"):
        year = date["cover_date"].year
    return {
        # comicbox derives a title from the story names when a format has no Title field.
        "title": _text(body.get("title")) or _text("; ".join(str(s) for s in stories)),
        "series": _text(_name(body.get("series"))),
        "issue": _issue_from(body.get("issue")),
        "publisher": _text(_name(body.get("publisher"))),
        "year": _whole_number(year),
        "authors": _authors(body.get("credits") or {}),
    }


def _whole_number(value: Any) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def _name(value: Any) -> Any:
    return value.get("name") if isinstance(value, Mapping) else value


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _issue_from(issue: Any) -> str | None:
    # comicbox keeps the issue as written ("1", "001", "1.MU") in `name`, parsed in `number`.
    if isinstance(issue, Mapping):
        return _text(issue.get("name")) or _issue_text(issue.get("number"))
    return _text(issue)


def _issue_text(number: Any) -> str | None:
    """1.0 -> "1", 1.5 -> "1.5": issue numbers as people write them."""
    if number is None or number == "":
        return None
    try:
        value = Decimal(str(number))
    except InvalidOperation:
        return _text(number)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _authors(credits: Mapping[str, Any]) -> tuple[str, ...]:
    """Creator names, writers first, otherwise in the order the file lists them."""

    def is_writer(name: str) -> bool:
        roles = (credits.get(name) or {}).get("roles") or {}
        return any(str(role).lower() in _WRITER_ROLES for role in roles)

    names = [str(name).strip() for name in credits if str(name).strip()]
    return tuple(sorted(names, key=lambda name: not is_writer(name)))


# --- PDF ------------------------------------------------------------------------------------


def _pdf_metadata(path: Path) -> ComicMetadata:
    import pymupdf

    with pymupdf.open(path) as document:
        info = document.metadata or {}
        attached = _pdf_attachments(document)
    embedded = _from_documents(attached)
    title = _text(info.get("title"))
    authors = _split_authors(info.get("author"))
    if embedded.origin is None:
        if not (title or authors):
            return EMPTY_METADATA
        # The info dictionary has no series/issue/publisher; its dates are the file's, not the
        # comic's publication, so no year either.
        return ComicMetadata(title=title, origin=ORIGIN_PDF, authors=authors)
    return ComicMetadata(
        title=embedded.title or title,
        series=embedded.series,
        issue=embedded.issue,
        publisher=embedded.publisher,
        year=embedded.year,
        origin=embedded.origin,
        authors=embedded.authors or authors,
    )


def _pdf_attachments(document: Any) -> list[tuple[MetadataFormats, str, bytes]]:
    """Metadata files attached to a PDF (comicbox tags PDFs with an embedded ComicInfo.xml)."""
    names = _metadata_filenames()
    found = []
    for name in document.embfile_names():
        fmt = names.get(str(name).rsplit("/", 1)[-1].lower())
        if fmt is not None and document.embfile_info(name).get("size", 0) <= _MAX_METADATA_BYTES:
            found.append((fmt, name, document.embfile_get(name)))
    return found


def _split_authors(value: Any) -> tuple[str, ...]:
    # Calibre writes "A & B", other tools "A; B". A comma may be "Last, First", so keep it.
    parts = re.split(r";|\s&\s", str(value or ""))
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
