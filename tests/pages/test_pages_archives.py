"""Archives and folders built by the tests: ordering, skipping, and every kind of bad input."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import py7zr
import pytest

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages import ExtractionLimits, detect_container, inspect_book, iter_pages
from comix_resources.pages.archives import read_capped

ImageFactory = Callable[..., bytes]


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, entries: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# ordering and skipping -----------------------------------------------------------------------
def test_natural_order_in_zip_and_streamed_tar(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    pages = {f"p{n}.jpg": jpeg_bytes(seed=n) for n in (10, 1, 2)}
    pages["P3.JPG"] = jpeg_bytes(seed=3)
    litter = {
        "ComicInfo.xml": b"<x/>",
        "notes.txt": b"hi",
        "Thumbs.db": b"\0" * 10,
        "__MACOSX/._p1.jpg": b"fork",
        "._p2.jpg": b"fork",
        ".hidden/p0.jpg": jpeg_bytes(),
    }
    expected = ["p1.jpg", "p2.jpg", "P3.JPG", "p10.jpg"]
    for book in (
        make_zip(tmp_path / "b.cbz", pages | litter),
        make_tar(tmp_path / "b.cbt", pages | litter),
    ):
        got = list(iter_pages(book))
        assert inspect_book(book).page_names == tuple(expected)
        assert [p.source_name for p in got] == expected
        assert [p.data for p in got] == [pages[name] for name in expected]


def test_image_folder(tmp_path: Path, jpeg_bytes: ImageFactory, png_bytes: ImageFactory) -> None:
    folder = tmp_path / "My Book"
    (folder / "extras").mkdir(parents=True)
    files = {"p10.png": png_bytes(), "p2.jpg": jpeg_bytes(), "extras/p1.jpg": jpeg_bytes(seed=4)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "info.txt").write_text("not a page")

    pages = list(iter_pages(folder))

    assert detect_container(folder) == "folder"
    # The files directly in the folder, in natural order; a subfolder of images is a book of
    # its own (the folder-tree source lists it), so its pages are not read twice.
    assert [p.source_name for p in pages] == ["p2.jpg", "p10.png"]
    assert [p.data for p in pages] == [files[p.source_name] for p in pages]
    assert [(p.ext, p.width, p.height) for p in pages][1] == ("png", 30, 20)
    assert [p.source_name for p in iter_pages(folder / "extras")] == ["p1.jpg"]


def test_folder_symlink_out_of_the_folder_is_unsafe(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "p1.jpg").write_bytes(jpeg_bytes())
    (folder / "p2.jpg").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match=r"symlink entry 'p2.jpg' -> '/etc/passwd'"):
        inspect_book(folder)


def test_magic_bytes_beat_the_extension(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    book = make_zip(tmp_path / "really-a-zip.cbr", {"01.jpg": jpeg_bytes()})
    assert detect_container(book) == "zip"
    assert [p.error for p in iter_pages(book)] == [None]


def test_7z_round_trip_and_password(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    data = {"b/p10.jpg": jpeg_bytes(seed=1), "b/p9.jpg": jpeg_bytes(seed=2)}
    with py7zr.SevenZipFile(tmp_path / "b.cb7", "w") as archive:
        for name, blob in data.items():
            archive.writestr(blob, name)
    assert [p.data for p in iter_pages(tmp_path / "b.cb7")] == [data["b/p9.jpg"], data["b/p10.jpg"]]

    with py7zr.SevenZipFile(tmp_path / "locked.cb7", "w", password="x") as archive:
        archive.writestr(jpeg_bytes(), "p1.jpg")
    with pytest.raises(BookError, match="password-protected"):
        inspect_book(tmp_path / "locked.cb7")


# book-level failures -------------------------------------------------------------------------
def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.cbz").write_bytes(b"")
    with pytest.raises(BookError, match=r"^zero-byte file$"):
        inspect_book(tmp_path / "empty.cbz")


def test_unknown_file_type(tmp_path: Path) -> None:
    (tmp_path / "mystery.bin").write_bytes(b"hello world, not a comic")
    with pytest.raises(BookError, match="unknown file type"):
        detect_container(tmp_path / "mystery.bin")


def test_truncated_zip_and_tar(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    pages = {f"p{n}.jpg": jpeg_bytes(seed=n) for n in range(3)}
    whole_zip = make_zip(tmp_path / "whole.cbz", pages).read_bytes()
    (tmp_path / "cut.cbz").write_bytes(whole_zip[: len(whole_zip) // 2])
    with pytest.raises(BookError, match="corrupt or truncated zip archive"):
        inspect_book(tmp_path / "cut.cbz")

    whole_tar = make_tar(tmp_path / "whole.cbt", pages).read_bytes()
    (tmp_path / "cut.cbt").write_bytes(whole_tar[: len(whole_tar) // 2])
    with pytest.raises(BookError, match="corrupt or truncated tar archive"):
        inspect_book(tmp_path / "cut.cbt")


@pytest.mark.parametrize("name", ["../evil.jpg", "/abs.jpg", "pages/../../evil.jpg", "C:/x.jpg"])
def test_zip_slip_names_are_unsafe(tmp_path: Path, name: str, jpeg_bytes: ImageFactory) -> None:
    book = make_zip(tmp_path / "slip.cbz", {"p1.jpg": jpeg_bytes(), name: jpeg_bytes()})
    assert name in zipfile.ZipFile(book).namelist()  # zipfile kept the hostile name
    with pytest.raises(UnsafeArchiveError, match=f"archive entry {name!r}"):
        inspect_book(book)


def test_tar_symlink_and_hardlink_are_unsafe(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    for kind, label in ((tarfile.SYMTYPE, "symlink"), (tarfile.LNKTYPE, "hardlink")):
        book = make_tar(tmp_path / f"{label}.cbt", {"p1.jpg": jpeg_bytes()})
        with tarfile.open(book, "w:gz") as archive:
            link = tarfile.TarInfo("p2.jpg")
            link.type, link.linkname = kind, "/etc/passwd"
            archive.addfile(link)
        with pytest.raises(UnsafeArchiveError, match=f"{label} entry 'p2.jpg' -> '/etc/passwd'"):
            inspect_book(book)


def test_zip_bomb_is_refused_from_the_headers(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    book = tmp_path / "bomb.cbz"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p1.jpg", jpeg_bytes())
        with archive.open("p2.jpg", "w", force_zip64=True) as entry:
            for _ in range(300):
                entry.write(bytes(1 << 20))  # 300 MB of zeros, about 300 kB compressed
    assert book.stat().st_size < 2 * 1024**2

    with pytest.raises(UnsafeArchiveError, match=r"compression ratio \d+:1 for entry 'p2.jpg'"):
        next(iter(iter_pages(book)))  # refused before the first page is read
    with pytest.raises(UnsafeArchiveError, match=r"'p2.jpg' is 314572800 bytes > max_entry_bytes"):
        inspect_book(book, ExtractionLimits(max_entry_bytes=10**6, max_compression_ratio=1e9))
    with pytest.raises(UnsafeArchiveError, match=r"total 31457.* > max_total_bytes 1000000"):
        inspect_book(book, ExtractionLimits(max_total_bytes=10**6, max_compression_ratio=1e9))


def test_lying_size_header_cannot_overread() -> None:
    with pytest.raises(UnsafeArchiveError, match="holds more than max_entry_bytes"):
        read_capped(io.BytesIO(bytes(1000)), 999, "p1.jpg")
    assert read_capped(io.BytesIO(bytes(999)), 999, "p1.jpg") == bytes(999)


def test_too_many_entries(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    book = make_zip(tmp_path / "many.cbz", {f"p{n}.jpg": jpeg_bytes() for n in range(12)})
    with pytest.raises(UnsafeArchiveError, match="too many entries: 12 > max_entries 10"):
        inspect_book(book, ExtractionLimits(max_entries=10))


def test_encrypted_zip_entry_is_password_protected(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    # zipfile cannot encrypt; set the "encrypted" flag bit the way a zip tool with a password
    # does, in the local header (offset 6) and the central directory record (offset 8)
    data = bytearray(make_zip(tmp_path / "plain.cbz", {"p1.jpg": jpeg_bytes()}).read_bytes())
    data[6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    book = tmp_path / "locked.cbz"
    book.write_bytes(bytes(data))
    with pytest.raises(BookError, match=r"password-protected archive \(encrypted entry 'p1.jpg'\)"):
        inspect_book(book)


# page-level failures: the book goes on ---------------------------------------------------------
def png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit PNG of width x height zeros: tiny file, huge canvas."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_bad_pages_get_errors_and_the_book_continues(
    tmp_path: Path, jpeg_bytes: ImageFactory, png_bytes: ImageFactory
) -> None:
    good = jpeg_bytes(seed=1)
    bomb = png_bomb(20_000, 20_000)
    assert len(bomb) < 200_000
    entries = {
        "p1.jpg": good,
        "p2.jpg": bytes(range(256)) * 8,  # random bytes named .jpg
        "p3.jpg": good[:-200],  # truncated: no FFD9
        "p4.png": bomb,
        "p5.jpg": good + bytes(64),  # zero padding after FFD9 is fine
        "p6.png": png_bytes()[:-12],  # PNG without its IEND chunk
        "p7.jpg": b"\xff\xd8\xff" + bytes(50) + b"\xff\xd9",  # JPEG magic, garbage header
    }
    book = make_zip(tmp_path / "mixed.cbz", entries)

    pages = list(iter_pages(book, ExtractionLimits(max_pixels=100_000_000)))

    assert [p.error is None for p in pages] == [True, False, False, False, True, False, False]
    assert pages[0].data == good and pages[4].data == entries["p5.jpg"]
    assert all(p.data is None for p in pages if p.error)
    assert pages[1].error == "unrecognised image data (unknown signature)"
    assert pages[2].error == "truncated jpg image (no FFD9 end-of-image marker)"
    assert pages[3].error == (
        "image too large: 20000x20000 = 400000000 pixels > max_pixels 100000000"
        " (decompression bomb?)"
    )
    assert (pages[3].width, pages[3].height) == (20_000, 20_000)
    assert pages[5].error == "truncated png image (no IEND chunk)"
    assert pages[6].error is not None and pages[6].error.startswith("corrupt jpg image")


def test_jpeg_xl_size_from_codestream_header(tmp_path: Path) -> None:
    # SizeHeader bits, least significant first: small=1, (160/8)-1, ratio=0, (120/8)-1
    small = 1 | (19 << 1) | (0 << 6) | (14 << 9)
    # small=0, selector 1 (13 bits) with height-1 = 1799, ratio 3 (4:3 -> width 2400)
    large = 0 | (1 << 1) | (1799 << 3) | (3 << 16)
    entries = {
        "p1.jxl": b"\xff\x0a" + small.to_bytes(2, "little") + bytes(20),
        "p2.jxl": b"\xff\x0a" + large.to_bytes(3, "little") + bytes(20),
    }
    pages = list(iter_pages(make_zip(tmp_path / "jxl.cbz", entries)))
    assert [(p.ext, p.width, p.height, p.error) for p in pages] == [
        ("jxl", 120, 160, None),
        ("jxl", 2400, 1800, None),
    ]
