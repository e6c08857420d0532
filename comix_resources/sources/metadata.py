"""Book-level metadata (title, series, issue, ...) from the catalog and the comic file itself.

Archives are read with comicbox (ComicInfo.xml, MetronInfo.xml, CoMet.xml, ComicBookInfo in the
zip/rar comment), PDFs with PyMuPDF (document info plus an embedded ComicInfo.xml, which
comicbox then parses), image folders from sidecar ComicInfo.xml-style files, EPUBs from their
package document (OPF) as well, and books grouped from loose pages from their names
(comicfn2dict). ComicInfo's ``<Pages>`` (page types, double pages) and its ``Manga`` reading
direction come along (``DeclaredPage``, ``is_rtl``). Everything here
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

from comix_resources.sources.model import GROUPING_PAGE_NAMES, BookFile

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
ORIGIN_OPF = "EPUB OPF"
ORIGIN_NAME = "file name"

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
MAX_DECLARED_PAGES = 20_000  # <Page> elements kept: as many as a book may have entries
_WRITER_ROLES = frozenset({"writer", "author", "script", "plotter", "scripter", "story"})


@dataclass(frozen=True)
class DeclaredPage:
    """A ComicInfo ``<Page>``: what the book's owner (or their tagger) says of one page."""

    index: int  # the ``Image`` attribute: the page's 0-based position
    type: str | None  # a ComicInfo page type (``FrontCover``, ``Story``, ...); None: not given
    double_page: bool | None  # ``DoublePage``; None: not given


@dataclass(frozen=True)
class ComicMetadata:
    title: str | None = None
    series: str | None = None
    issue: str | None = None
    publisher: str | None = None
    year: int | None = None
    # "ComicInfo.xml" | "MetronInfo" | "CoMet" | "ComicBookInfo" | "Calibre" | "PDF info" |
    # "EPUB OPF" | "file name" | None
    origin: str | None = None
    authors: tuple[str, ...] = ()
    pages: tuple[DeclaredPage, ...] = ()  # ComicInfo <Pages>, by index
    # Declared right to left (ComicInfo Manga=YesAndRightToLeft, CoMet's reading direction, an
    # EPUB spine's page-progression-direction); None where nothing is declared.
    is_rtl: bool | None = None

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
    if book.grouping == GROUPING_PAGE_NAMES:  # loose pages: the name is all there is
        return bounded(metadata_from_name(Path(book.path).name, title=Path(book.path).name))
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
        pages=metadata.pages[:MAX_DECLARED_PAGES],
        is_rtl=metadata.is_rtl,
    )


def _read_file(book: BookFile) -> ComicMetadata:
    path = Path(book.path)
    if book.format == "folder":
        return _folder_metadata(path) if path.is_dir() else EMPTY_METADATA
    if not path.is_file():
        return EMPTY_METADATA
    if book.format == "pdf":
        return _pdf_metadata(path)
    if book.format == "epub":
        # A ComicInfo.xml inside the EPUB is the comic's own tag; the OPF fills the gaps.
        return _filled(_archive_metadata(path), _epub_metadata(path))
    return _archive_metadata(path)


def _filled(primary: ComicMetadata, fallback: ComicMetadata) -> ComicMetadata:
    """``primary`` with its empty fields taken from ``fallback``."""
    if primary.is_empty:
        return fallback
    if fallback.is_empty:
        return primary
    values = {name: getattr(primary, name) or getattr(fallback, name) for name in _FIELDS}
    is_rtl = primary.is_rtl if primary.is_rtl is not None else fallback.is_rtl
    return ComicMetadata(origin=primary.origin, pages=primary.pages, is_rtl=is_rtl, **values)


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
        pages=from_file.pages,  # the catalog knows nothing of pages or reading direction
        is_rtl=from_file.is_rtl,
    )


# --- comicbox -------------------------------------------------------------------------------


_READ_FORMATS = ("comicinfo", "metroninfo", "comet", "comicbookinfo")


@functools.cache
def _comicbox_config(formats: tuple[str, ...] = _READ_FORMATS) -> ComicboxSettings:
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
                "read": {"formats": list(formats)},
                # Belt and braces: we never call run()/dump(), and nothing is set to write.
                "write": {"formats": []},
                "general": {"dry_run": True},
                "compute": {"page_count": False, "pages": False},
            }
        }
    )


def comicbox_settings() -> ComicboxSettings:
    """comicbox's settings for this platform: the embedded formats read, nothing written to a
    book, no network (what the export's own comicbox instance uses too)."""
    return _comicbox_config()


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
    return _from_documents(_sidecar_files(folder))


def _sidecar_files(folder: Path) -> list[tuple[MetadataFormats, str, bytes]]:
    names = _metadata_filenames()
    found = []
    for child in sorted(folder.iterdir()):
        fmt = names.get(child.name.lower())
        if fmt is not None and child.is_file() and child.stat().st_size <= _MAX_METADATA_BYTES:
            found.append((fmt, child.name, child.read_bytes()))
    return found


def comicbox_metadata(book: BookFile) -> dict[str, Any]:
    """The book's own metadata in comicbox's schema (what goes under its ``comicbox`` key:
    ``title``, ``series``, ``credits``, ``pages``, ...), for writing it back out: its
    ComicInfo.xml as comicbox reads it, or where it has none its other formats merged; {} when
    it has no metadata. Reads only, like everything here."""
    path = Path(book.path)
    if book.grouping == GROUPING_PAGE_NAMES or not path.exists():
        return {}
    return _comicbox_read(book, ("comicinfo",)) or _comicbox_read(book, _READ_FORMATS)


def _comicbox_read(book: BookFile, formats: tuple[str, ...]) -> dict[str, Any]:
    import copy

    from comicbox.box import Comicbox

    path = Path(book.path)
    documents: list[tuple[MetadataFormats, str, bytes]] | None = None
    if book.format == "folder":
        documents = _sidecar_files(path)
    elif book.format == "pdf":
        import pymupdf

        with pymupdf.open(path) as document:
            documents = _pdf_attachments(document)
    config = _comicbox_config(formats)

    def wanted(found: list[tuple[MetadataFormats, str, bytes]]) -> list:
        return [doc for doc in found if doc[0].name.replace("_", "").lower() in formats]

    with Comicbox(None if documents is not None else path, config=config) as box:
        if documents is not None:
            _add_documents(box, wanted(documents))
        elif box.get_file_type() == "CBR" and not box.is_unrar_supported():
            _add_documents(box, wanted(_rar_metadata_files(path)))
        merged = box.get_internal_metadata().get("comicbox") or {}
        return copy.deepcopy(dict(merged))


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
    pages: tuple[DeclaredPage, ...] = ()
    is_rtl: bool | None = None
    for fmt, body in ordered:
        extracted = _extract(body)
        for name in _FIELDS:
            if name not in values and extracted[name]:
                values[name] = extracted[name]
                origin = origin or ORIGIN_BY_FORMAT[fmt]
        pages = pages or _declared_pages(body.get("pages"))
        is_rtl = is_rtl if is_rtl is not None else _declared_rtl(body)
    if origin is None and not pages:
        return EMPTY_METADATA
    origin = origin or ORIGIN_BY_FORMAT[ordered[0][0]]
    return ComicMetadata(origin=origin, pages=pages, is_rtl=is_rtl, **values)


def _declared_pages(pages: Any) -> tuple[DeclaredPage, ...]:
    """comicbox's ``pages`` ({index: {page_type, double_page, ...}}) as DeclaredPage."""
    if not isinstance(pages, Mapping):
        return ()
    from comix_resources.page_classes import comicinfo_type

    declared = []
    for index, page in pages.items():
        try:
            number = int(index)
        except (TypeError, ValueError):
            continue
        if number < 0 or not isinstance(page, Mapping):
            continue
        kind = page.get("page_type")
        double = page.get("double_page")
        declared.append(
            DeclaredPage(
                number,
                comicinfo_type(getattr(kind, "value", kind)),
                bool(double) if isinstance(double, bool) else None,
            )
        )
    return tuple(sorted(declared, key=lambda page: page.index))


def _declared_rtl(body: Mapping[str, Any]) -> bool | None:
    """True for ComicInfo ``Manga=YesAndRightToLeft`` or CoMet's right-to-left direction.
    ``No`` or ``Yes`` (a manga printed left to right) declares nothing: taggers write them by
    default, so they must not override what the owner set for the collection."""
    manga = body.get("manga")
    if str(getattr(manga, "value", manga) or "").lower() == "yesandrighttoleft":
        return True
    direction = body.get("reading_direction")
    return True if str(getattr(direction, "value", direction) or "").lower() == "rtl" else None


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


# --- names ----------------------------------------------------------------------------------


def metadata_from_name(name: str, title: str | None = None) -> ComicMetadata:
    """Series, issue and year parsed from a book's name with comicfn2dict (what comicbox uses
    for file names); ``title`` as given. Converters that name pages ``<folder>_<file>`` repeat
    the book's name (``#Guardian 001_#Guardian 001``): the repeat is read once."""
    from comicfn2dict import comicfn2dict

    half = _repeated_half(name)
    parsed = comicfn2dict(half)
    if half.startswith("#") and not _is_issue(parsed.get("issue")):
        # A series whose name starts with '#' (#Guardian) is not an issue number.
        parsed = comicfn2dict(half[1:])
        if parsed.get("series"):
            parsed["series"] = "#" + str(parsed["series"])
    return ComicMetadata(
        title=_text(title) or _text(parsed.get("title")),
        series=_text(parsed.get("series")),
        issue=_issue_text(parsed.get("issue")) if parsed.get("issue") else None,
        year=_whole_number(parsed.get("year")),
        origin=ORIGIN_NAME,
    )


def _repeated_half(name: str) -> str:
    for separator in ("_", " - ", " "):
        parts = name.split(separator)
        for cut in range(1, len(parts)):
            first = separator.join(parts[:cut]).strip()
            if first and first == separator.join(parts[cut:]).strip():
                return first
    return name


def _is_issue(value: Any) -> bool:
    try:
        Decimal(str(value))
    except (InvalidOperation, ValueError):
        return False
    return True


# --- EPUB package document ------------------------------------------------------------------
_OPF_CONTAINER = "META-INF/container.xml"


def _epub_metadata(path: Path) -> ComicMetadata:
    """Title, creators, series (``calibre:series`` or EPUB 3 ``belongs-to-collection``) and
    its index, date, publisher and page progression from the EPUB's package document; empty
    when it has none that parses (a ComicInfo.xml beside it must not be lost with it)."""
    try:
        return _read_opf(path)
    except Exception as exc:
        log.debug("no package document in %s: %s", path, exc)
        return EMPTY_METADATA


def _read_opf(path: Path) -> ComicMetadata:
    import xml.etree.ElementTree as ET
    import zipfile

    with zipfile.ZipFile(path) as archive:
        first: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():  # a name listed twice means its first entry
            first.setdefault(info.filename, info)

        def read(name: str) -> bytes | None:
            info = first.get(name)
            if info is None or info.file_size > _MAX_METADATA_BYTES:
                return None
            with archive.open(info) as stream:
                return stream.read(_MAX_METADATA_BYTES + 1)[:_MAX_METADATA_BYTES]

        container = read(_OPF_CONTAINER)
        if container is None:
            return EMPTY_METADATA
        rootfile = next(
            (
                el.get("full-path")
                for el in ET.fromstring(container).iter()
                if _local(el.tag) == "rootfile" and el.get("full-path")
            ),
            None,
        )
        opf = read(rootfile) if rootfile else None
    return _opf_metadata(ET.fromstring(opf)) if opf else EMPTY_METADATA


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _opf_metadata(package: Any) -> ComicMetadata:
    metadata = next((el for el in package if _local(el.tag) == "metadata"), None)
    spine = next((el for el in package if _local(el.tag) == "spine"), None)
    direction = (spine.get("page-progression-direction") or "").lower() if spine is not None else ""
    is_rtl = {"rtl": True, "ltr": False}.get(direction)
    if metadata is None:
        return (
            ComicMetadata(origin=ORIGIN_OPF, is_rtl=is_rtl)
            if is_rtl is not None
            else (EMPTY_METADATA)
        )
    elements = list(metadata)
    refines: dict[str, dict[str, str]] = {}
    named: dict[str, str] = {}
    for el in elements:
        if _local(el.tag) != "meta":
            continue
        if el.get("name") and el.get("content") is not None:
            named.setdefault(el.get("name", ""), el.get("content", ""))
        if el.get("refines") and el.get("property"):
            target = el.get("refines", "").lstrip("#")
            refines.setdefault(target, {}).setdefault(el.get("property", ""), _text(el.text) or "")

    def texts(name: str) -> list[tuple[Any, str]]:
        return [(el, t) for el in elements if _local(el.tag) == name and (t := _text(el.text))]

    series, issue = _text(named.get("calibre:series")), named.get("calibre:series_index")
    if not series:
        for el in elements:
            if _local(el.tag) == "meta" and el.get("property") == "belongs-to-collection":
                details = refines.get(el.get("id") or "", {})
                if details.get("collection-type", "series") == "series" and _text(el.text):
                    series, issue = _text(el.text), details.get("group-position")
                    break
    creators = [name for _, name in texts("creator") if name != _CALIBRE_UNKNOWN_AUTHOR]
    dates = [t for _, t in texts("date")]
    year_match = re.match(r"\s*(\d{4})", dates[0]) if dates else None
    titles = [t for _, t in texts("title")]
    publishers = [t for _, t in texts("publisher")]
    found = ComicMetadata(
        title=titles[0] if titles else None,
        series=series,
        issue=_issue_text(issue) if series and issue not in (None, "") else None,
        publisher=publishers[0] if publishers else None,
        year=int(year_match.group(1)) if year_match else None,
        origin=ORIGIN_OPF,
        authors=tuple(dict.fromkeys(creators)),
        is_rtl=is_rtl,
    )
    has_any = any(getattr(found, name) for name in _FIELDS) or is_rtl is not None
    return found if has_any else EMPTY_METADATA
