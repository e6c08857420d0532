"""The book reader: one entry point per question (what is it, what pages, give me the pages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from comix_resources.errors import UnsafeArchiveError
from comix_resources.pages.archives import (
    ArchiveReader,
    FolderReader,
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


def inspect_book(path: Path, limits: ExtractionLimits = DEFAULT_LIMITS) -> BookInspection:
    """Open, list and check a book without reading its pages; raises BookError with the reason.

    For compressed tar the listing has to decompress the stream (tar has no index).
    """
    path = Path(path)
    container = detect_container(path)
    if container == "pdf":
        from comix_resources.pages.pdf import inspect_pdf  # PyMuPDF loads in ~2 s: on demand

        return inspect_pdf(path, limits)
    with _READERS[container](path) as reader:
        return BookInspection(container, tuple(m.name for m in plan_pages(reader, limits)))


def iter_pages(path: Path, limits: ExtractionLimits = DEFAULT_LIMITS) -> Iterator[PageImage]:
    """The book's pages in reading order. A bad page comes back with `error` set and the book
    goes on; a bad book raises BookError (possibly after some pages, for a damaged archive)."""
    path = Path(path)
    container = detect_container(path)
    if container == "pdf":
        from comix_resources.pages.pdf import iter_pdf_pages

        yield from iter_pdf_pages(path, limits)
        return
    with _READERS[container](path) as reader:
        members = {m.name: m for m in plan_pages(reader, limits)}
        file_bytes = 0 if container == "folder" else path.stat().st_size
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
            yield page_from_bytes(index, name, data, limits)
