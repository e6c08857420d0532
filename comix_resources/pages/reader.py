"""The book reader: one entry point per question (what is it, what pages, give me the pages)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from comix_resources.errors import UnsafeArchiveError
from comix_resources.pages.archives import (
    ArchiveReader,
    FolderReader,
    LoosePagesReader,
    RarReader,
    SevenZipReader,
    TarReader,
    ZipReader,
    check_read,
    plan_pages,
)
from comix_resources.pages.detect import detect_container
from comix_resources.pages.epub import EpubReader
from comix_resources.pages.images import page_from_bytes
from comix_resources.pages.limits import BookInspection, ExtractionLimits, PageImage

_READERS: dict[str, type[ArchiveReader]] = {
    "zip": ZipReader,
    "epub": EpubReader,
    "tar": TarReader,
    "rar": RarReader,
    "7z": SevenZipReader,
    "folder": FolderReader,
}

DEFAULT_LIMITS = ExtractionLimits()


def _open(path: Path, page_files: Sequence[str]) -> ArchiveReader | None:
    """The reader of a book; None for a PDF (read by PyMuPDF, not as an archive)."""
    if page_files:
        return LoosePagesReader(path, page_files)
    container = detect_container(path)
    return None if container == "pdf" else _READERS[container](path)


def inspect_book(
    path: Path, limits: ExtractionLimits = DEFAULT_LIMITS, page_files: Sequence[str] = ()
) -> BookInspection:
    """Open, list and check a book without reading its pages; raises BookError with the reason.

    ``page_files``: the book is these files of the folder ``path.parent``, in this order (loose
    pages grouped by their names). For compressed tar the listing has to decompress the
    stream (tar has no index).
    """
    path = Path(path)
    opened = _open(path, page_files)
    if opened is None:
        from comix_resources.pages.pdf import inspect_pdf  # PyMuPDF loads in ~2 s: on demand

        return inspect_pdf(path, limits)
    with opened as reader:
        names = tuple(m.name for m in plan_pages(reader, limits))
        manifest = reader.manifest
        return BookInspection(
            reader.container,
            names,
            book_uuid=manifest.book_uuid if manifest else None,
            title=manifest.title if manifest else None,
            is_rtl=manifest.is_rtl if manifest else None,
        )


def iter_pages(
    path: Path, limits: ExtractionLimits = DEFAULT_LIMITS, page_files: Sequence[str] = ()
) -> Iterator[PageImage]:
    """The book's pages in reading order. A bad page comes back with `error` set and the book
    goes on; a bad book raises BookError (possibly after some pages, for a damaged archive).
    ``page_files`` as for ``inspect_book``."""
    path = Path(path)
    opened = _open(path, page_files)
    if opened is None:
        from comix_resources.pages.pdf import iter_pdf_pages

        yield from iter_pdf_pages(path, limits)
        return
    with opened as reader:
        members = {m.name: m for m in plan_pages(reader, limits)}
        file_bytes = 0 if reader.reads_folder else path.stat().st_size
        total = 0
        for index, (name, data) in enumerate(reader.read(list(members), limits)):
            # The listing's checks again, on the bytes decompression really gave.
            check_read(members[name], data, limits)
            total += len(data)
            if total > limits.max_total_bytes:
                raise UnsafeArchiveError(
                    f"page entries exceed max_total_bytes {limits.max_total_bytes} when read"
                )
            if file_bytes and total >= limits.ratio_check_min_bytes:
                ratio = total / file_bytes
                if ratio > limits.max_compression_ratio:
                    raise UnsafeArchiveError(
                        f"suspicious compression ratio {ratio:.0f}:1 for the whole archive when"
                        f" read (> {limits.max_compression_ratio:g}, archive bomb?)"
                    )
            yield page_from_bytes(index, name, data, limits, declared_ext=reader.declared_ext(name))
