"""Hostile files the extraction limits must bound, built from nothing (tests and benchmarks).

Each is small on disk and enormous once decoded or rendered: a PNG of zeros with a huge
canvas, a PDF of thousands of blank pages, a one-inch PDF page that draws a gigantic image.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_of_zeros(width: int, height: int, depth: int, colour: int, channels: int) -> bytes:
    """A valid PNG of zeros (IDAT compressed row by row, so building it needs no big buffer).

    ``colour`` is the IHDR colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA) and
    ``channels`` its samples per pixel; ``depth`` the bits per sample.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    row = bytes(1 + (width * channels * depth + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def write_blank_pdf(path: Path, pages: int) -> None:
    """``pages`` empty A4 pages (5,000 of them take about 600 kB)."""
    import pymupdf

    doc = pymupdf.open()
    for _ in range(pages):
        doc.new_page()
    doc.save(path, garbage=4, deflate=True)


def write_pdf_drawing_huge_image(
    path: Path, side: int = 60_000, then_scan: bytes | None = None
) -> None:
    """A one-inch page that draws a ``side`` x ``side`` 1-bit image (450 MB decoded at 60,000,
    about 440 kB stored), optionally followed by a page holding the JPEG ``then_scan``."""
    import pymupdf

    row = bytes((side + 7) // 8)
    compressor = zlib.compressobj(9)
    stream = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    doc = pymupdf.open()
    page = doc.new_page(width=72, height=72)
    image = doc.get_new_xref()
    doc.update_object(
        image,
        f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace"
        f" /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode /Length {len(stream)} >>",
    )
    doc.update_stream(image, stream, compress=False)
    doc.xref_set_key(page.xref, "Resources", f"<< /XObject << /Im1 {image} 0 R >> >>")
    contents = doc.get_new_xref()
    doc.update_object(contents, "<<>>")
    doc.update_stream(contents, b"q 72 0 0 72 0 0 cm /Im1 Do Q")
    doc.xref_set_key(page.xref, "Contents", f"{contents} 0 R")
    if then_scan is not None:
        scan = doc.new_page(width=216, height=324)
        scan.insert_image(scan.rect, stream=then_scan)
    doc.save(path)
