"""What a comic file really is, from its first bytes (a .cbr that is a zip is common)."""

from __future__ import annotations

import bz2
import lzma
import zlib
from pathlib import Path

from comix_resources.errors import BookError

_BY_SUFFIX = {
    ".cbz": "zip",
    ".zip": "zip",
    ".cbr": "rar",
    ".rar": "rar",
    ".cb7": "7z",
    ".7z": "7z",
    ".cbt": "tar",
    ".tar": "tar",
    ".pdf": "pdf",
    ".epub": "epub",
}
_EPUB_MIMETYPE = b"mimetypeapplication/epub+zip"  # the first, stored zip entry of an EPUB


def _tar_header(block: bytes) -> bool:
    """POSIX/GNU magic, or for old v7 archives a valid header checksum."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _decompressed_head(head: bytes) -> bytes:
    """The first bytes inside a gzip/bzip2/xz stream (to see whether it wraps a tar)."""
    try:
        if head.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(wbits=31).decompress(head, 512)
        if head.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(head, 512)
        if head.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor().decompress(head, 512)
    except (zlib.error, OSError, lzma.LZMAError, EOFError):
        return b""
    return b""


def detect_container(path: Path) -> str:
    """zip, rar, 7z, tar, pdf, epub or folder; raises BookError for empty or unknown files."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    try:
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)  # enough for a compressed stream to yield 512 bytes
    except OSError as exc:
        raise BookError(f"cannot read file: {exc.strerror}") from exc
    if not head:
        raise BookError("zero-byte file")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        is_epub = head[30:58] == _EPUB_MIMETYPE or path.suffix.lower() == ".epub"
        return "epub" if is_epub else "zip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header
        return "pdf"
    if _tar_header(head[:512]) or _tar_header(_decompressed_head(head)):
        return "tar"
    by_suffix = _BY_SUFFIX.get(path.suffix.lower())
    if by_suffix:
        return by_suffix  # e.g. a self-extracting zip; its reader reports if it is broken
    raise BookError(f"unknown file type (first bytes {head[:8].hex(' ')})")
