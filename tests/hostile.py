"""The hostile-input corpus: one collection of bad files next to good books, built by the tests.

Each case is a file (or folder) the tests write, with what the books table must say about it
after the pages step (status and a pattern its error matches), how many of its pages must
arrive, which page errors it must have, and which pages page_quality must flag. The cases
cover every item of issue 17 and what earlier tests already covered (zero-byte, truncated,
zip-slip, bombs, encrypted and solid archives, links); the real RAR/7z/zip files come from
``../shared/fixtures`` and are copied into the test's temporary folder.

``write_corpus(folder)`` writes them all; ``corpus_table(cases, got)`` is the table for the
closing note (input, expected, got).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import py7zr
from PIL import Image

from comix_resources.benchmarks.hostile_files import (
    png_of_zeros,
    write_blank_pdf,
    write_pdf_drawing_huge_image,
)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
COLLECTION = "Hostile"


@dataclass(frozen=True)
class Case:
    name: str  # path inside the collection folder (may hold surrogate-escaped bytes)
    what: str  # the input, in words
    build: Callable[[Path], None]
    status: str = "ok"  # books status after the pages step
    message: str = ""  # a pattern the books error must match (re.search)
    pages: int = 0  # pages that must arrive with status ok
    page_errors: dict[str, str] = field(default_factory=dict)  # source_name -> pattern
    unreadable: int = 0  # pages page_quality must flag "unreadable"
    fields: dict[str, str] = field(default_factory=dict)  # books column -> shown(value)
    fixture: str = ""  # a shared fixture the case needs (skipped with a reason when missing)

    @property
    def expected(self) -> str:
        text = self.status + (f": {self.message}" if self.message else "")
        if self.pages:
            text += f"; {self.pages} page(s)"
        for source_name, pattern in self.page_errors.items():
            text += f"; page {source_name}: {pattern}"
        if self.unreadable:
            text += f"; {self.unreadable} page(s) unreadable in page_quality"
        for column, value in self.fields.items():
            text += f"; {column} {value}"
        return text


def shown(value: object) -> str:
    """A books value as the corpus table shows it: long texts by their length."""
    if isinstance(value, str) and len(value) > 80:
        return f"{len(value)} chars"
    return repr(value)


# images ------------------------------------------------------------------------------------
def jpeg(width: int = 120, height: int = 180, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


def drawn_page(seed: int) -> bytes:
    """A white page with two framed panels: something the detector and OCR can work on."""
    image = Image.new("RGB", (400, 600), "white")
    pixels = np.asarray(image).copy()
    pixels[20:24, 20:380] = pixels[276:280, 20:380] = 0
    pixels[320:324, 20:380] = pixels[576:580, 20:380] = 0
    pixels[20:280, 20:24] = pixels[20:280, 376:380] = 0
    pixels[320:580, 20:24] = pixels[320:580, 376:380] = 0
    rng = np.random.default_rng(seed)
    pixels[60:200, 60:300] = rng.integers(0, 200, 3, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def damaged_scan_jpeg() -> bytes:
    """Valid header and FFD9 end marker, but garbage inside the scan data: only decoding
    finds it (Pillow: "broken data stream when reading image file")."""
    good = bytearray(drawn_page(11))
    start = good.index(b"\xff\xda") + 40
    for offset in range(start, len(good) - 100, 3):
        good[offset] = 0xFF if offset % 2 else 0xD0
    return bytes(good)


# containers --------------------------------------------------------------------------------
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same entries, same bytes: duplicates stay duplicates


def cbz(entries: Sequence[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> Callable:
    def build(path: Path) -> None:
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in entries:
                archive.writestr(zipfile.ZipInfo(name, FIXED_TIME), data, compress_type=method)

    return build


def copy_of(sibling: str) -> Callable:
    return lambda path: shutil.copyfile(path.parent / sibling, path)


def comic_info(**fields: str) -> bytes:
    body = "".join(f"<{key}>{value}</{key}>" for key, value in fields.items())
    return f'<?xml version="1.0"?><ComicInfo>{body}</ComicInfo>'.encode()


def zip_bomb(path: Path, name: str = "p2.jpg", first: bytes | None = None) -> None:
    """300 MB of zeros in one entry (about 300 kB compressed), after an optional decoy."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p1.jpg", jpeg(seed=1))
        with archive.open(name, "w", force_zip64=True) as entry:
            for _ in range(300):
                entry.write(bytes(1 << 20))


def duplicate_name_bomb(path: Path) -> None:
    """The decoy "p1.jpg" is listed (and checked) first; a second "p1.jpg" is a 200 MB bomb."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, and writes it
        archive.writestr("p1.jpg", jpeg(seed=2))
        with archive.open("p1.jpg", "w", force_zip64=True) as entry:
            for _ in range(200):
                entry.write(bytes(1 << 20))


def duplicate_bomb_first(path: Path) -> None:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")
        with archive.open("p1.jpg", "w", force_zip64=True) as entry:
            for _ in range(200):
                entry.write(bytes(1 << 20))
        archive.writestr("p1.jpg", jpeg(seed=3))


def patched_zip(entries: Sequence[tuple[str, bytes]], patch: Callable[[bytearray], None]):
    def build(path: Path) -> None:
        cbz(entries)(path)
        data = bytearray(path.read_bytes())
        patch(data)
        path.write_bytes(bytes(data))

    return build


def _central_records(data: bytearray) -> list[int]:
    return [m.start() for m in re.finditer(b"PK\x01\x02", bytes(data))]


def lie_about_crc(data: bytearray) -> None:
    """The central directory (and local header) of the second entry claim another CRC."""
    record = _central_records(data)[1]
    data[record + 16 : record + 20] = b"\x00\x00\x00\x00"
    local = int.from_bytes(data[record + 42 : record + 46], "little")
    data[local + 14 : local + 18] = b"\x00\x00\x00\x00"


def unsupported_method(data: bytearray) -> None:
    """Compression method 97 (WavPack) on the second entry, in both headers."""
    record = _central_records(data)[1]
    data[record + 10 : record + 12] = (97).to_bytes(2, "little")
    local = int.from_bytes(data[record + 42 : record + 46], "little")
    data[local + 8 : local + 10] = (97).to_bytes(2, "little")


def encrypted_flag(data: bytearray) -> None:
    data[6] |= 0x1
    data[_central_records(data)[0] + 8] |= 0x1


def cb7(entries: Sequence[tuple[str, bytes]]) -> Callable:
    def build(path: Path) -> None:
        with py7zr.SevenZipFile(path, "w") as archive:
            for name, data in entries:
                archive.writestr(data, name)

    return build


def corrupt_7z(path: Path) -> None:
    """Listed fine (the header at the end is intact); the LZMA stream inside is damaged."""
    cb7([(f"p{n}.jpg", jpeg(seed=20 + n)) for n in range(3)])(path)
    data = bytearray(path.read_bytes())
    for offset in range(200, 600, 7):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def tar_with(entries: Sequence[tuple[str, bytes]], links: Sequence[tuple[str, str, bytes]] = ()):
    def build(path: Path) -> None:
        with tarfile.open(path, "w:gz") as archive:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            for name, target, kind in links:
                link = tarfile.TarInfo(name)
                link.type, link.linkname = kind, target
                archive.addfile(link)

    return build


def app_download(pages: Sequence[tuple[str, int]], members: Sequence[tuple[str, bytes]]):
    """A Dark Horse app tar: manifest.json naming ``(src_image, sort_order)``, then members."""

    def build(path: Path) -> None:
        listed = [{"sort_order": o, "src_image": n, "mime_type": "image/jpeg"} for n, o in pages]
        manifest = json.dumps({"book_uuid": path.name, "is_rtl": True, "pages": listed}).encode()
        with tarfile.open(path, "w") as archive:
            for name, data in [("manifest.json", manifest), *members]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))

    return build


def pdf_of_images(images: Sequence[bytes]) -> Callable:
    def build(path: Path) -> None:
        import pymupdf

        doc = pymupdf.open()
        for data in images:
            page = doc.new_page(width=216, height=324)
            page.insert_image(page.rect, stream=data)
        doc.save(path)

    return build


def blank_pdf(pages: int) -> Callable:
    return lambda path: write_blank_pdf(path, pages)


def pdf_drawing_huge_image(path: Path, side: int = 60_000) -> None:
    """A 1-inch page drawing a side x side image, then an ordinary scan."""
    write_pdf_drawing_huge_image(path, side, then_scan=jpeg(300, 450, seed=7))


def encrypted_pdf(path: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page().insert_text((50, 50), "secret")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")


def image_folder(files: Sequence[tuple[str, bytes]]) -> Callable:
    def build(path: Path) -> None:
        path.mkdir()
        for name, data in files:
            (path / name).write_bytes(data)

    return build


def fixture_copy(relative: str) -> Callable:
    def build(path: Path) -> None:
        shutil.copyfile(FIXTURES / relative, path)

    return build


def raw(data: bytes) -> Callable:
    return lambda path: path.write_bytes(data)


def _name(raw_bytes: bytes) -> str:
    """A file name from bytes, as Python sees it (undecodable bytes surrogate-escaped)."""
    return os.fsdecode(raw_bytes)


GOOD = jpeg(seed=100)
EXTRACTED = "pages could not be extracted: "

CASES: list[Case] = [
    # good books the bad ones must not cost ----------------------------------------------------
    Case(
        "good.cbz",
        "good CBZ, 3 drawn pages",
        cbz([(f"p{n}.jpg", drawn_page(n)) for n in range(3)]),
        pages=3,
    ),
    Case(
        "good.cb7",
        "good CB7 (LZMA2), 2 pages",
        cb7([("a/p1.jpg", drawn_page(4)), ("a/p2.jpg", drawn_page(5))]),
        pages=2,
    ),
    Case(
        "good scan.pdf",
        "good PDF of 2 scanned pages",
        pdf_of_images([drawn_page(6), drawn_page(7)]),
        pages=2,
    ),
    Case(
        _name(b"\xff\xfe-latin1 \xe9t\xe9.cbz"),
        "good CBZ whose file name is not UTF-8 (bytes ff fe, latin-1 e9)",
        cbz([("p1.jpg", drawn_page(8)), ("p2.jpg", drawn_page(9))]),
        pages=2,
    ),
    Case(
        "進撃の巨人 第1巻.cbz",
        "good CBZ with a CJK name",
        cbz([("01.jpg", drawn_page(10))]),
        pages=1,
    ),
    Case(
        "scan folder",
        "good image folder, one page name not UTF-8",
        image_folder([("p1.jpg", drawn_page(12)), (_name(b"p2\xff.jpg"), drawn_page(13))]),
        pages=2,
    ),
    Case(
        "komga rar5.cbr",
        "real RAR5 (komga)",
        fixture_copy("real_archives/komga/rar5.rar"),
        pages=1,
        fixture="real_archives/komga/rar5.rar",
    ),
    # issue 17, broken ----------------------------------------------------------------------
    Case(
        "corrupt-lzma.cb7",
        "7z whose LZMA data is corrupt (listing intact)",
        corrupt_7z,
        "error",
        EXTRACTED + r"corrupt or truncated 7z archive: Corrupt input data",
    ),
    Case(
        "year-overflow.cbz",
        "ComicInfo <Year>2147483648</Year>",
        cbz([("ComicInfo.xml", comic_info(Title="Overflow", Year="2147483648")), ("p1.jpg", GOOD)]),
        pages=1,
        fields={"title": "'Overflow'", "year": "None"},
    ),
    Case(
        "duplicate-name-bomb.cbz",
        "zip: decoy p1.jpg, then a 200 MB p1.jpg of the same name",
        duplicate_name_bomb,
        pages=1,
    ),
    Case(
        "duplicate-name-bomb-first.cbz",
        "zip: the 200 MB p1.jpg first, the decoy second",
        duplicate_bomb_first,
        "error",
        r"suspicious compression ratio \d+:1 for entry 'p1.jpg'",
    ),
    Case(
        "damaged-scan.cbz",
        "JPEG with damaged scan data that still ends with FFD9",
        cbz([("p1.jpg", damaged_scan_jpeg()), ("p2.jpg", drawn_page(14))]),
        pages=2,
        unreadable=1,
    ),
    Case(
        "rewritten.cbz",
        "file rewritten between the books and pages steps",
        cbz([("p1.jpg", drawn_page(15))]),
        "error",
        EXTRACTED + r"file changed since the books step",
    ),
    # issue 17, weak ------------------------------------------------------------------------
    Case(
        "bad-crc.cbz",
        "zip whose headers give a wrong CRC for p2.jpg",
        patched_zip([("p1.jpg", jpeg(seed=30)), ("p2.jpg", jpeg(seed=31))], lie_about_crc),
        "error",
        EXTRACTED + r"corrupt zip entry 'p2.jpg': Bad CRC-32",
    ),
    Case(
        "unsupported-method.cbz",
        "zip entry with compression method 97",
        patched_zip([("p1.jpg", jpeg(seed=32)), ("p2.jpg", jpeg(seed=33))], unsupported_method),
        "error",
        EXTRACTED + r"corrupt zip entry 'p2.jpg': .*compression method",
    ),
    Case(
        "png16-bomb.cbz",
        "12000x12000 16-bit RGBA PNG (1.1 MB)",
        cbz(
            [("p1.png", png_of_zeros(12_000, 12_000, 16, 6, 4)), ("p2.jpg", GOOD)],
            zipfile.ZIP_STORED,
        ),
        pages=1,
        page_errors={
            "p1.png": r"image too large: 12000x12000 = 144000000 pixels > max_pixels 89478485"
        },
    ),
    Case(
        "png16-heavy.cbz",
        "6000x6000 16-bit RGBA PNG: few pixels, 288 MB decoded",
        cbz(
            [("p1.png", png_of_zeros(6_000, 6_000, 16, 6, 4)), ("p2.jpg", GOOD)], zipfile.ZIP_STORED
        ),
        pages=1,
        page_errors={
            "p1.png": r"too large to decode: 6000x6000 x 8 bytes per pixel = 288000000 bytes"
        },
    ),
    Case(
        "huge-title.cbz",
        "ComicInfo with a 10 MB title",
        cbz([("ComicInfo.xml", comic_info(Title="A" * 10_000_000, Series="S")), ("p1.jpg", GOOD)]),
        pages=1,
        fields={"title": "1000 chars", "series": "'S'"},
    ),
    Case(
        "blank-5000.pdf",
        "5,000-page blank PDF (600 kB)",
        blank_pdf(5000),
        "error",
        r"too many pages: 5000 > max_pages 2000",
    ),
    Case(
        "huge-image-page.pdf",
        "1-inch PDF page drawing a 60000x60000 image, then a scan",
        pdf_drawing_huge_image,
        pages=1,
        page_errors={
            "pdf page 1": r"page draws a 60000x60000 image = 3600000000 pixels > max_pixels"
        },
    ),
    # covered before, kept in the corpus ---------------------------------------------------------
    Case("zero.cbz", "zero-byte file", raw(b""), "error", r"^zero-byte file$"),
    Case(
        "truncated.cbz",
        "zip cut after 150 bytes",
        lambda p: (cbz([("p1.jpg", GOOD)])(p), p.write_bytes(p.read_bytes()[:150])),
        "error",
        r"corrupt or truncated zip archive",
    ),
    Case(
        "random-bytes.cbr",
        "random bytes named .cbr",
        raw(bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8))),
        "error",
        r"corrupt or truncated rar archive",
    ),
    Case(
        "text.cbz",
        "a text file named .cbz",
        raw(b"hello, not a comic"),
        "error",
        r"corrupt or truncated zip archive: File is not a zip file",
    ),
    Case(
        "zip-slip.cbz",
        "zip entry ../../escaped.jpg",
        cbz([("../../escaped.jpg", GOOD), ("p1.jpg", GOOD)]),
        "error",
        r"parent-directory '\.\.' in archive entry",
    ),
    Case(
        "absolute.cbz",
        "zip entry /abs.jpg",
        cbz([("/abs.jpg", GOOD), ("p1.jpg", GOOD)]),
        "error",
        r"absolute path in archive entry",
    ),
    Case(
        "symlink.cbt",
        "tar with a symlink to /etc/passwd",
        tar_with([("p1.jpg", GOOD)], [("p2.jpg", "/etc/passwd", tarfile.SYMTYPE)]),
        "error",
        r"symlink entry 'p2.jpg' -> '/etc/passwd'",
    ),
    Case(
        "no-images.cbz",
        "zip holding only ComicInfo.xml",
        cbz([("ComicInfo.xml", comic_info(Title="Only metadata"))]),
        "error",
        r"no page images in archive \(1 entry: ComicInfo.xml\)",
    ),
    Case(
        "zip-bomb.cbz",
        "300 MB of zeros in one entry",
        zip_bomb,
        "error",
        r"suspicious compression ratio \d+:1 for entry 'p2.jpg'",
    ),
    Case(
        "encrypted-flag.cbz",
        "zip entry flagged encrypted",
        patched_zip([("p1.jpg", GOOD)], encrypted_flag),
        "error",
        r"password-protected archive \(encrypted entry 'p1.jpg'\)",
    ),
    Case(
        "encrypted.pdf",
        "AES-256 encrypted PDF",
        encrypted_pdf,
        "error",
        r"^encrypted PDF \(needs a password\)$",
    ),
    Case(
        "bad-pages.cbz",
        "zip: good, random bytes, truncated JPEG, PNG bomb, PNG without IEND",
        cbz(
            [
                ("p1.jpg", GOOD),
                ("p2.jpg", bytes(range(256)) * 8),
                ("p3.jpg", GOOD[:-200]),
                ("p4.png", png_of_zeros(20_000, 20_000, 1, 0, 1)),
                ("p5.png", png_of_zeros(30, 20, 8, 2, 3)[:-12]),
            ]
        ),
        pages=1,
        page_errors={
            "p2.jpg": r"unrecognised image data",
            "p3.jpg": r"truncated jpg image",
            "p4.png": r"image too large: 20000x20000",
            "p5.png": r"truncated png image",
        },
    ),
    Case(
        "good.copy.cbz",
        "same bytes as good.cbz",
        copy_of("good.cbz"),
        "duplicate",
        r"same bytes as Hostile/good.cbz",
    ),
    Case(
        "dup-names.cbt",
        "tar with two entries named p1.jpg",
        tar_with([("p1.jpg", jpeg(seed=40)), ("p1.jpg", jpeg(seed=41)), ("p2.jpg", jpeg(seed=42))]),
        pages=2,
    ),
    Case(
        "dup-names.cb7",
        "7z with two entries named p1.jpg",
        cb7([("p1.jpg", jpeg(seed=43)), ("p1.jpg", jpeg(seed=44)), ("p2.jpg", jpeg(seed=45))]),
        pages=2,
    ),
    Case(
        "rar3-solid.cbr",
        "real solid RAR3 (rarfile)",
        fixture_copy("rar/rar3-solid.rar"),
        "error",
        r"solid RAR archive .* non-free `unrar`",
        fixture="rar/rar3-solid.rar",
    ),
    Case(
        "rar5-encrypted.cbr",
        "real encrypted RAR5 (komga)",
        fixture_copy("real_archives/komga/rar5-encrypted.rar"),
        "error",
        r"password-protected RAR archive",
        fixture="real_archives/komga/rar5-encrypted.rar",
    ),
    Case(
        "rar5-symlink.cbr",
        "real RAR5 with a symlink to .. (rarfile)",
        fixture_copy("rar/rar5-evil-symlink-traversal.rar"),
        "error",
        r"symlink entry 'up' -> '\.\.'",
        fixture="rar/rar5-evil-symlink-traversal.rar",
    ),
    Case(
        "7zip-encrypted.cb7",
        "real encrypted 7z (komga)",
        fixture_copy("real_archives/komga/7zip-encrypted.7z"),
        "error",
        r"password-protected",
        fixture="real_archives/komga/7zip-encrypted.7z",
    ),
    # Dark Horse app downloads: named by their id, paged by their manifest -------------------
    Case(
        "d1f0app",
        "app download: tar named by its id, manifest pages in another order than the names",
        app_download([("c2", 1), ("a9", 2)], [("a9", jpeg(seed=60)), ("c2", jpeg(seed=61))]),
        pages=2,
        fields={"container": "'darkhorse'", "book_uuid": "'d1f0app'", "is_rtl": "True"},
    ),
    Case(
        "d2f0app",
        "app download whose manifest names a member that is not there",
        app_download([("a9", 1), ("gone", 2)], [("a9", jpeg(seed=62))]),
        "error",
        r"^manifest.json names page 'gone' \(sort_order 2\), which is not in the archive$",
    ),
    Case(
        "d3f0app",
        "app download whose manifest names a file outside the archive",
        app_download([("../../etc/passwd", 1)], [("a9", jpeg(seed=63))]),
        "error",
        r"parent-directory '\.\.' in archive entry '\.\./\.\./etc/passwd'",
    ),
    Case(
        "d4f0app",
        "app download whose manifest lists no pages",
        app_download([], [("a9", jpeg(seed=64))]),
        "error",
        r"^manifest.json lists no pages$",
    ),
]


def available_cases() -> list[Case]:
    """The cases whose shared fixtures exist here."""
    return [case for case in CASES if not case.fixture or (FIXTURES / case.fixture).is_file()]


def write_corpus(folder: Path, cases: Sequence[Case]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.build(folder / case.name)


def rewrite(folder: Path) -> None:
    """What happens to rewritten.cbz between the steps: new bytes, same name."""
    cbz([("p1.jpg", drawn_page(16)), ("p2.jpg", drawn_page(17))])(folder / "rewritten.cbz")


def corpus_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """Markdown: input, expected, got (one row per case)."""

    def cell(text: str) -> str:
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 160 else text[:157] + "..."

    lines = ["| input | expected | got |", "|---|---|---|"]
    lines += [f"| {cell(a)} | {cell(b)} | {cell(c)} |" for a, b, c in rows]
    return "\n".join(lines)
