"""Page images: what the bytes are, how big they are, and whether they are whole.

Everything here reads headers only: type from the magic bytes, size from the format header
(PIL's plugin classes parse the header and stop), completeness from the end marker. Nothing is
decoded, so a page costs microseconds, whatever its resolution.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Callable, Iterable

from natsort import natsort_keygen, ns
from PIL import (
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    Jpeg2KImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from comix_resources.errors import UnsafeArchiveError
from comix_resources.pages.limits import ExtractionLimits, PageImage

# Names that may hold a page. Selection is by name because archives are listed before they are
# read; the type that is reported comes from the bytes (sniff_image).
IMAGE_SUFFIXES = frozenset(
    {
        "jpg",
        "jpeg",
        "jpe",
        "jfif",
        "png",
        "gif",
        "webp",
        "bmp",
        "tif",
        "tiff",
        "jxl",
        "avif",
        "jp2",
        "j2k",
    }
)
_SUFFIX_TO_EXT = {"jpeg": "jpg", "jpe": "jpg", "jfif": "jpg", "tiff": "tif", "j2k": "jp2"}

_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JP2_CONTAINER = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_PNG_END = b"IEND\xaeB`\x82"  # IEND chunk type and its fixed CRC

# For other formats PIL's plugin classes parse the header in their constructor and decode
# nothing until load(); going through them rather than Image.open also skips PIL's process-wide
# bomb limit, so our own max_pixels decides (and can report the real size).
_HEADER_READERS: dict[str, Callable[[io.BytesIO], ImageFile.ImageFile]] = {
    "png": PngImagePlugin.PngImageFile,
    "gif": GifImagePlugin.GifImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
    "tif": TiffImagePlugin.TiffImageFile,
    "avif": AvifImagePlugin.AvifImageFile,
    "jp2": Jpeg2KImagePlugin.Jpeg2KImageFile,
}

natural_key = natsort_keygen(alg=ns.PATH | ns.IGNORECASE)
"""Reading order of member names: `p2` before `p10`, folder by folder, case-insensitive."""


def sniff_image(data: bytes) -> str | None:
    """The image type from its signature, or None when the bytes are no image we know."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tif"
    if head.startswith(b"\xff\x0a") or head.startswith(_JXL_CONTAINER):
        return "jxl"
    if head.startswith(_JP2_CONTAINER) or head.startswith(b"\xff\x4f\xff\x51"):
        return "jp2"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    if head[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    return None


def ext_from_name(name: str) -> str:
    suffix = posixpath.splitext(name)[1].lower().lstrip(".")
    return _SUFFIX_TO_EXT.get(suffix, suffix)


def truncation_problem(ext: str, data: bytes) -> str | None:
    """Why a JPEG or PNG is cut short, judged by its end marker (zero padding is allowed)."""
    if ext == "jpg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "truncated jpg image (no FFD9 end-of-image marker)"
    if ext == "png" and not data.rstrip(b"\x00").endswith(_PNG_END):
        return "truncated png image (no IEND chunk)"
    return None


def image_size(ext: str, data: bytes) -> tuple[int, int]:
    """Width and height from the header; raises ValueError/OSError when the header is bad."""
    width, height, _ = image_layout(ext, data)
    return width, height


def image_layout(ext: str, data: bytes) -> tuple[int, int, int]:
    """Width, height and bytes per decoded pixel (channels x bytes per sample, at least 1),
    from the header alone; raises ValueError/OSError when the header is bad. The size is the
    upright page's: an EXIF orientation that turns the picture a quarter (5 to 8) swaps it,
    as the page loader (``comix_resources.images``) stands the pixels up."""
    if ext == "jpg":
        return _jpeg_layout(data)
    if ext == "jxl":
        width, height = _jxl_size(data)
        return width, height, 3  # the SizeHeader says nothing of channels: assume RGB
    if ext == "png":
        return _png_layout(data)
    with _HEADER_READERS[ext](io.BytesIO(data)) as image:
        width, height = image.size
        # Pillow's TIFF reader reports the upright size itself
        if ext != "tif" and image.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS:
            width, height = height, width
        return width, height, _mode_bytes(image.mode)


_ORIENTATION = 0x0112  # the EXIF/TIFF orientation tag
_QUARTER_TURNS = (5, 6, 7, 8)  # orientations whose upright picture swaps width and height


def _exif_orientation(segment: bytes) -> int:
    """The orientation in a JPEG APP1 segment's payload (``Exif\\0\\0`` + a TIFF header
    and IFD0), 1 when it has none or cannot be read: a bad EXIF block never fails a page."""
    if not segment.startswith(b"Exif\x00\x00") or len(segment) < 14:
        return 1
    tiff = segment[6:]
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    for i in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return 1
        if int.from_bytes(tiff[entry : entry + 2], order) == _ORIENTATION:
            return int.from_bytes(tiff[entry + 8 : entry + 10], order)  # a SHORT, left-aligned
    return 1


def _mode_bytes(mode: str) -> int:
    """Bytes per pixel of a PIL mode once decoded (``I;16`` two, ``RGBA`` four)."""
    if mode in ("I", "F"):
        return 4
    if mode.startswith("P"):
        return 3  # a palette decodes to RGB for every reader of the page
    try:
        bands = Image.getmodebands(mode)
    except (KeyError, ValueError):
        bands = 4
    return bands * (2 if "16" in mode else 1)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # IHDR colour type -> samples per pixel


def _png_layout(data: bytes) -> tuple[int, int, int]:
    # IHDR is the first chunk: width, height, bit depth, colour type at fixed offsets.
    if data[12:16] != b"IHDR" or len(data) < 26:
        raise ValueError("no IHDR chunk at the start of the PNG")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    depth, colour = data[24], data[25]
    if colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"bad PNG header (bit depth {depth}, colour type {colour})")
    channels = 3 if colour == 3 else _PNG_CHANNELS[colour]  # a palette decodes to RGB
    return width, height, channels * (2 if depth == 16 else 1)


def decoded_problem(
    width: int, height: int, pixel_bytes: int, limits: ExtractionLimits
) -> str | None:
    """Why a page of this size would cost too much to decode, else None."""
    if width * height > limits.max_pixels:
        return (
            f"image too large: {width}x{height} = {width * height} pixels"
            f" > max_pixels {limits.max_pixels} (decompression bomb?)"
        )
    decoded = width * height * pixel_bytes
    if decoded > limits.max_decoded_bytes:
        return (
            f"image too large to decode: {width}x{height} x {pixel_bytes} bytes per pixel ="
            f" {decoded} bytes > max_decoded_bytes {limits.max_decoded_bytes}"
        )
    return None


def page_from_bytes(
    index: int,
    source_name: str,
    data: bytes,
    limits: ExtractionLimits,
    *,
    rendered: bool = False,
    declared_ext: str | None = None,
) -> PageImage:
    """Validate one page's bytes; problems become the page's error and the book goes on.

    The type comes from the bytes; ``declared_ext`` (what the container says, for members
    named without an extension) names the page's type only when the bytes are no image.
    Never raises: whatever goes wrong with one page's bytes is that page's error row.
    """
    fallback_ext = declared_ext or ext_from_name(source_name)
    try:
        return _checked_page(index, source_name, data, limits, rendered, fallback_ext)
    except Exception as exc:
        reason = f"unreadable page: {type(exc).__name__}: {exc}"
        return PageImage(index, source_name, None, fallback_ext, 0, 0, rendered, reason)


def _checked_page(
    index: int,
    source_name: str,
    data: bytes,
    limits: ExtractionLimits,
    rendered: bool,
    fallback_ext: str,
) -> PageImage:
    def failed(ext: str, reason: str, width: int = 0, height: int = 0) -> PageImage:
        return PageImage(index, source_name, None, ext, width, height, rendered, reason)

    ext = sniff_image(data)
    if ext is None:
        kind = "empty entry" if not data else "unrecognised image data (unknown signature)"
        return failed(fallback_ext, kind)
    problem = truncation_problem(ext, data)
    if problem:
        return failed(ext, problem)
    try:
        width, height, pixel_bytes = image_layout(ext, data)
    except Exception as exc:  # PIL raises many types for a bad header; all mean "corrupt"
        return failed(ext, f"corrupt {ext} image: {type(exc).__name__}: {exc}")
    if width <= 0 or height <= 0:
        return failed(ext, f"corrupt {ext} image: size {width}x{height}")
    problem = decoded_problem(width, height, pixel_bytes, limits)
    if problem:
        return failed(ext, problem, width, height)
    return PageImage(index, source_name, data, ext, width, height, rendered)


# member names ------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str) -> None:
    """Refuse names that would land outside an output folder if anyone extracted them."""
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise UnsafeArchiveError(f"absolute path in archive entry {name!r}")
    if ".." in path.split("/"):
        raise UnsafeArchiveError(f"parent-directory '..' in archive entry {name!r}")


def is_page_name(name: str) -> bool:
    """An image entry that is part of the book, not macOS/Windows/editor litter."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts or parts[0] == "__MACOSX":
        return False
    if any(part.startswith(".") for part in parts):  # hidden files and ._ resource forks
        return False
    return posixpath.splitext(parts[-1])[1].lower().lstrip(".") in IMAGE_SUFFIXES


def reading_order(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)


# JPEG --------------------------------------------------------------------------------------
# JPEG is nearly every page, and PIL's parser reads every table and APP segment to build its
# info dict (~70 us, a third of reading the page from a zip); walking the segment lengths to
# the frame header (SOFn) gives the size in a few microseconds.
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # no length field


def _jpeg_layout(data: bytes) -> tuple[int, int, int]:
    offset = 2
    orientation = 1
    end = len(data)
    while offset + 4 <= end:
        if data[offset] != 0xFF:
            raise ValueError(f"no marker at offset {offset}")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _STANDALONE_MARKERS:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        if marker == 0x00:
            raise ValueError(f"invalid marker 0xFF00 at offset {offset}")
        if marker in _SOF_MARKERS:
            if offset + 10 > end:
                break
            precision = data[offset + 4]
            height = int.from_bytes(data[offset + 5 : offset + 7], "big")
            width = int.from_bytes(data[offset + 7 : offset + 9], "big")
            components = data[offset + 9]
            if orientation in _QUARTER_TURNS:
                width, height = height, width
            return width, height, max(1, components) * (2 if precision > 8 else 1)
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker == 0xE1 and orientation == 1:  # APP1: EXIF comes before the frame header
            orientation = _exif_orientation(data[offset + 4 : offset + 2 + length])
        offset += 2 + length
    raise ValueError("no frame header (SOF marker) before the image data")


# JPEG XL -----------------------------------------------------------------------------------
# Pillow has no JPEG XL reader, so the size comes from the codestream's SizeHeader (ISO/IEC
# 18181-1 A.2): a few bit fields right after the FF0A signature, read least-significant first.
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_JXL_U32_BITS = (9, 13, 18, 30)


def _jxl_codestream(data: bytes) -> bytes:
    if data.startswith(b"\xff\x0a"):
        return data
    offset = 0
    while offset + 8 <= len(data):  # ISOBMFF boxes; the codestream is in jxlc or the first jxlp
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[offset + 8 : offset + 16], "big"), 16
        elif size == 0:
            size = len(data) - offset
        if kind == b"jxlc":
            return data[offset + header : offset + size]
        if kind == b"jxlp":
            return data[offset + header + 4 : offset + size]
        if size < header:
            break
        offset += size
    raise ValueError("no JPEG XL codestream box")


def _jxl_size(data: bytes) -> tuple[int, int]:
    stream = _jxl_codestream(data)
    if not stream.startswith(b"\xff\x0a"):
        raise ValueError("bad JPEG XL codestream signature")
    bits = int.from_bytes(stream[2:14], "little")  # the SizeHeader needs at most 71 bits

    def take(count: int) -> int:
        nonlocal bits
        value = bits & ((1 << count) - 1)
        bits >>= count
        return value

    def dimension(small: bool) -> int:
        if small:
            return (take(5) + 1) * 8
        return take(_JXL_U32_BITS[take(2)]) + 1

    small = bool(take(1))
    height = dimension(small)
    ratio = take(3)
    if ratio:
        numerator, denominator = _JXL_RATIOS[ratio]
        width = height * numerator // denominator
    else:
        width = dimension(small)
    return width, height
