"""Safety limits for reading untrusted comic files, and the value types the reader returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractionLimits:
    """Caps that keep one hostile or broken book from exhausting memory, disk or CPU."""

    max_total_bytes: int = 4 * 1024**3  # total uncompressed bytes of page entries
    max_entry_bytes: int = 512 * 1024**2  # one entry
    max_entries: int = 20_000  # entries in an archive
    # Pages of one book, whatever the container: the longest comic omnibus editions have about
    # 1,500; a PDF of thousands of pages is a document, and every page costs detection and OCR.
    max_pages: int = 2_000
    # width*height of one page image (decompression bombs); Pillow's own guard (1 GiB / 4 / 3).
    max_pixels: int = 89_478_485
    # What one page costs once decoded: pixels x channels x bytes per sample, from the header.
    # 256 MiB is max_pixels of 8-bit RGB; a 16-bit RGBA page gets a quarter of the pixels.
    max_decoded_bytes: int = 256 * 1024**2
    max_compression_ratio: float = 250.0  # uncompressed/compressed of one large entry (zip bomb)
    # Small entries are exempt from the ratio test: a 40 KiB blank page can legitimately
    # compress 1000:1, and it cannot hurt anyone.
    ratio_check_min_bytes: int = 1024**2
    pdf_dpi: int = 150  # render DPI when a PDF page is not one full-page image
    # Rendering (and PNG-encoding) a PDF page costs ~50 ms per 2 M pixels: the pixels one book
    # may render, about 1,200 letter pages at 150 dpi. Pages past it get an error row. Pages of
    # one colour (blank) are encoded once per size and do not count.
    max_rendered_pixels: int = 2_500_000_000


@dataclass(frozen=True)
class BookInspection:
    # what the bytes really are: zip, rar, 7z, tar, pdf, epub, folder, or darkhorse (an app
    # download: a tar or folder with its manifest)
    container: str
    page_names: tuple[str, ...]  # page entries in reading order
    # What the container itself declares (an app download's manifest); None when it does not.
    book_uuid: str | None = None
    title: str | None = None
    is_rtl: bool | None = None

    @property
    def page_count(self) -> int:
        return len(self.page_names)


@dataclass(frozen=True)
class PageImage:
    index: int  # 0-based reading-order index
    source_name: str  # archive member, file in a folder, or "pdf page N"
    data: bytes | None  # exact image bytes (None when error)
    ext: str  # jpg, png, webp, gif, bmp, tif, jxl, avif, jp2 (from the bytes, not the name)
    width: int
    height: int
    rendered: bool  # True when a PDF page was rendered rather than its embedded image taken
    error: str | None = None  # per-page problem; data is None then
