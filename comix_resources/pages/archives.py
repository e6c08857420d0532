"""Archive readers (zip, tar, rar, 7z, image folders) behind one small interface.

Each reader lists its members cheaply and reads the chosen ones into memory with a size cap;
nothing is ever extracted to disk. `plan_pages` applies the safety checks shared by all formats,
so a new format only has to say what its members are and how to read them.
"""

from __future__ import annotations

import lzma
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import libarchive
import libarchive.exception
import py7zr
import py7zr.exceptions
import py7zr.io
import rarfile

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages.app_manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    AppManifest,
    is_manifest_name,
    manifest_pages,
    read_manifest,
)
from comix_resources.pages.images import check_member_name, is_page_name, reading_order
from comix_resources.pages.limits import ExtractionLimits

_READ_CHUNK = 1 << 20
_SOLID_RAR_MESSAGE = (
    "solid RAR archive that the installed backend (libarchive) cannot read: solid RAR3/RAR4"
    " needs the non-free `unrar`; repack it as CBZ"
)


@dataclass(frozen=True)
class Member:
    """A regular file in an archive, with the sizes its header declares."""

    name: str
    size: int  # declared uncompressed size
    compressed: int | None = None  # declared compressed size where the format keeps one per entry
    encrypted: bool = False


def read_capped(stream: BinaryIO, limit: int, name: str) -> bytes:
    """Read a member but never more than `limit` bytes, whatever its header claimed."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UnsafeArchiveError(f"entry {name!r} holds more than max_entry_bytes ({limit})")
    return data


def in_reading_order(
    stream: Iterator[tuple[str, bytes]], order: Sequence[str]
) -> Iterator[tuple[str, bytes]]:
    """Re-order a one-pass stream (archive order) into reading order.

    Members that arrive early wait in memory until their turn. Comic archives are almost always
    stored in page order, so the buffer is usually empty; in the worst case it holds the book's
    pages, which max_total_bytes bounds.
    """
    position = {name: index for index, name in enumerate(order)}
    pending: dict[int, bytes] = {}
    next_index = 0
    for name, data in stream:
        index = position.get(name)
        if index is None or index < next_index or index in pending:
            continue  # a duplicate name: the first copy wins, as in the listing
        pending[index] = data
        while next_index in pending:
            yield order[next_index], pending.pop(next_index)
            next_index += 1
    if next_index < len(order):
        raise BookError(f"archive ended before page {order[next_index]!r} (truncated?)")


class ArchiveReader(ABC):
    """An opened book container. Use as a context manager.

    A tar or folder whose listing finds a Dark Horse app ``manifest.json`` sets ``manifest``
    (and its ``container`` becomes ``darkhorse``): its pages are then the manifest's.
    """

    container: str
    what = "archive"  # how messages name the container
    reads_folder = False  # files on disk rather than one file (no whole-file ratio test)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest: AppManifest | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - most readers hold nothing open between calls
        """Release whatever the reader keeps open."""

    @abstractmethod
    def members(self, limits: ExtractionLimits) -> list[Member]:
        """Regular files, in archive order. Raises UnsafeArchiveError for links and bad names."""

    @abstractmethod
    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        """The named members' bytes, in the order given."""

    def choose_pages(self, members: list[Member]) -> list[Member]:
        """Page members in reading order (EPUB overrides this with its spine; an app
        download's manifest gives its own)."""
        if self.manifest is not None:
            return self._manifest_pages(members)
        pages = {m.name: m for m in reversed(members) if is_page_name(m.name)}
        return [pages[name] for name in reading_order(pages)]

    def declared_ext(self, name: str) -> str | None:
        """The image type the container declares for a page (an app manifest's mime_type)."""
        if self.manifest is None:
            return None
        normalized = posixpath.normpath(name)
        return next((p.declared_ext for p in self.manifest.pages if p.member == normalized), None)

    def _use_manifest(self, data: bytes) -> None:
        self.manifest = read_manifest(data)
        if self.manifest is not None:
            self.container = "darkhorse"

    def _manifest_pages(self, members: list[Member]) -> list[Member]:
        assert self.manifest is not None
        by_name: dict[str, Member] = {}
        for member in members:  # `./id` in a tar is the manifest's `id`; the first entry wins
            by_name.setdefault(posixpath.normpath(member.name), member)
        names = manifest_pages(self.manifest, list(by_name), self.what)
        return [by_name[name] for name in names]


def plan_pages(reader: ArchiveReader, limits: ExtractionLimits) -> list[Member]:
    """List, check and order the pages of a book; every book-level refusal on the listing
    happens here. A name listed twice means its first entry, in every container."""
    members = reader.members(limits)
    if len(members) > limits.max_entries:
        raise UnsafeArchiveError(
            f"too many entries: {len(members)} > max_entries {limits.max_entries}"
        )
    encrypted = [m.name for m in members if m.encrypted]
    if encrypted:
        raise BookError(f"password-protected archive (encrypted entry {encrypted[0]!r})")
    pages = reader.choose_pages(members)
    if len(pages) > limits.max_pages:
        raise UnsafeArchiveError(f"too many pages: {len(pages)} > max_pages {limits.max_pages}")
    if not pages:
        shown = ", ".join(m.name for m in members[:5]) + (", ..." if len(members) > 5 else "")
        count = f"{len(members)} entr{'y' if len(members) == 1 else 'ies'}"
        listing = count + (f": {shown}" if members else "")
        raise BookError(f"no page images in {reader.what} ({listing})")
    total = 0
    for page in pages:
        if page.size > limits.max_entry_bytes:
            raise UnsafeArchiveError(
                f"entry {page.name!r} is {page.size} bytes > max_entry_bytes"
                f" {limits.max_entry_bytes}"
            )
        if page.compressed is not None and page.size >= limits.ratio_check_min_bytes:
            ratio = page.size / max(page.compressed, 1)
            if ratio > limits.max_compression_ratio:
                raise UnsafeArchiveError(
                    f"suspicious compression ratio {ratio:.0f}:1 for entry {page.name!r}"
                    f" (> {limits.max_compression_ratio:g}, zip bomb?)"
                )
        total += page.size
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"page entries total {total} bytes > max_total_bytes {limits.max_total_bytes}"
        )
    # Formats without per-entry compressed sizes (solid 7z, compressed tar) get the same
    # bomb test on the whole file.
    if not reader.reads_folder and total >= limits.ratio_check_min_bytes:
        ratio = total / max(reader.path.stat().st_size, 1)
        if ratio > limits.max_compression_ratio:
            raise UnsafeArchiveError(
                f"suspicious compression ratio {ratio:.0f}:1 for the whole archive"
                f" (> {limits.max_compression_ratio:g}, archive bomb?)"
            )
    return pages


def check_read(member: Member, data: bytes, limits: ExtractionLimits) -> None:
    """The ratio test again on what decompression really gave (headers can lie)."""
    if member.compressed is not None and len(data) >= limits.ratio_check_min_bytes:
        ratio = len(data) / max(member.compressed, 1)
        if ratio > limits.max_compression_ratio:
            raise UnsafeArchiveError(
                f"suspicious compression ratio {ratio:.0f}:1 for entry {member.name!r} when read"
                f" (> {limits.max_compression_ratio:g}, zip bomb?)"
            )


def _refuse_link(name: str, target: str | None, kind: str = "symlink") -> None:
    shown = f" -> {target!r}" if target else ""
    raise UnsafeArchiveError(f"{kind} entry {name!r}{shown} in archive")


# zip ---------------------------------------------------------------------------------------
class ZipReader(ArchiveReader):
    container = "zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise BookError(f"corrupt or truncated zip archive: {exc}") from exc

        self._entries: dict[str, zipfile.ZipInfo] = {}  # name -> its first entry

    def close(self) -> None:
        self.zip.close()

    def members(self, limits: ExtractionLimits) -> list[Member]:
        infos = self.zip.infolist()
        if len(infos) > limits.max_entries:  # before looking at each one
            raise UnsafeArchiveError(
                f"too many entries: {len(infos)} > max_entries {limits.max_entries}"
            )
        members = []
        for info in infos:
            check_member_name(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):  # unix mode in the high 16 bits
                _refuse_link(info.filename, None)
            if info.is_dir():
                continue
            # zipfile.open(name) would pick the *last* entry of a name: read the one checked.
            self._entries.setdefault(info.filename, info)
            members.append(
                Member(info.filename, info.file_size, info.compress_size, bool(info.flag_bits & 1))
            )
        return members

    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        for name in names:
            try:
                with self.zip.open(self._entries.get(name) or name) as stream:
                    data = read_capped(stream, limits.max_entry_bytes, name)
            except (
                zipfile.BadZipFile,
                zlib.error,
                lzma.LZMAError,
                EOFError,
                OSError,
                NotImplementedError,
                ValueError,
            ) as exc:
                raise BookError(f"corrupt zip entry {name!r}: {exc}") from exc
            yield name, data


# tar ---------------------------------------------------------------------------------------
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError)


class TarReader(ArchiveReader):
    """Plain, gzip, bzip2 or xz tar; read in one streaming pass (tar has no index)."""

    container = "tar"

    def members(self, limits: ExtractionLimits) -> list[Member]:
        members = []
        count = 0
        manifest: bytes | None = None  # the first manifest.json, as with every name
        try:
            with tarfile.open(self.path, mode="r|*") as tar:
                for info in tar:
                    count += 1
                    if count > limits.max_entries:
                        raise UnsafeArchiveError(
                            f"too many entries: more than max_entries {limits.max_entries}"
                        )
                    check_member_name(info.name)
                    if info.issym() or info.islnk():
                        _refuse_link(
                            info.name, info.linkname, "symlink" if info.issym() else "hardlink"
                        )
                    if info.isdev():
                        raise UnsafeArchiveError(f"device or fifo entry {info.name!r} in archive")
                    if info.isfile():
                        members.append(Member(info.name, info.size))
                        if manifest is None and is_manifest_name(info.name):
                            # Read in the same pass: a tar stream cannot go back for it.
                            stream = tar.extractfile(info)
                            manifest = stream.read(MAX_MANIFEST_BYTES + 1) if stream else b""
        except _TAR_ERRORS as exc:
            raise BookError(f"corrupt or truncated tar archive: {exc}") from exc
        if manifest is not None:
            self._use_manifest(manifest)
        return members

    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        return in_reading_order(self._stream(set(names), limits), names)

    def _stream(self, wanted: set[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        try:
            with tarfile.open(self.path, mode="r|*") as tar:
                for info in tar:
                    if info.isfile() and info.name in wanted:
                        stream = tar.extractfile(info)
                        if stream is not None:
                            yield info.name, read_capped(stream, limits.max_entry_bytes, info.name)
        except _TAR_ERRORS as exc:
            raise BookError(f"corrupt or truncated tar archive: {exc}") from exc


# rar ---------------------------------------------------------------------------------------
class RarReader(ArchiveReader):
    """Headers through rarfile (pure Python), data through libarchive (in-process).

    rarfile alone would need an `unrar`/`unar`/`bsdtar` executable for the data; libarchive
    alone does not report per-entry encryption, which makes password-protected books fail with
    an obscure decoder error. Together they need no external tool.
    """

    container = "rar"

    def members(self, limits: ExtractionLimits) -> list[Member]:
        try:
            archive = rarfile.RarFile(self.path)
        except rarfile.PasswordRequired as exc:
            raise BookError("password-protected RAR archive (encrypted headers)") from exc
        except (rarfile.Error, OSError, EOFError) as exc:
            raise BookError(f"corrupt or truncated rar archive: {exc}") from exc
        with archive:
            if archive.needs_password() and not archive.infolist():
                raise BookError("password-protected RAR archive (encrypted headers)")
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise UnsafeArchiveError(
                    f"too many entries: {len(infos)} > max_entries {limits.max_entries}"
                )
            members = []
            for info in infos:
                check_member_name(info.filename)
                redirect = getattr(info, "file_redir", None)  # RAR5 symlink/hardlink/copy
                if info.is_symlink() or redirect:
                    _refuse_link(info.filename, redirect[2] if redirect else None)
                if info.is_dir():
                    continue
                members.append(
                    Member(info.filename, info.file_size, info.compress_size, info.needs_password())
                )
            if archive.is_solid() and _is_rar3(self.path):
                # libarchive's RAR3 decoder has no solid support: fail before reading anything
                raise BookError(_SOLID_RAR_MESSAGE)
        return members

    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        return in_reading_order(self._stream(set(names), limits), names)

    def _stream(self, wanted: set[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        try:
            with libarchive.file_reader(str(self.path)) as archive:
                for entry in archive:
                    if not entry.isreg or entry.pathname not in wanted:
                        continue
                    data = bytearray()
                    for block in entry.get_blocks():
                        data += block
                        if len(data) > limits.max_entry_bytes:
                            raise UnsafeArchiveError(
                                f"entry {entry.pathname!r} holds more than max_entry_bytes"
                                f" ({limits.max_entry_bytes})"
                            )
                    yield entry.pathname, bytes(data)
        except libarchive.exception.ArchiveError as exc:
            message = str(exc).lower()
            if "solid" in message:
                raise BookError(_SOLID_RAR_MESSAGE) from exc
            if "encrypt" in message or "password" in message:
                raise BookError("password-protected RAR archive") from exc
            raise BookError(f"corrupt or truncated rar archive: {exc}") from exc


def _is_rar3(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(7) == b"Rar!\x1a\x07\x00"  # RAR5 has \x01\x00 here


# 7z ----------------------------------------------------------------------------------------
class _CappedBuffer(py7zr.io.Py7zIO):
    """py7zr's write target: keeps at most `limit + 1` bytes so an overflow can be reported."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.length = 0

    def write(self, s: bytes | bytearray) -> int:
        if self.length <= self.limit:
            self.chunks.append(bytes(s[: self.limit + 1 - self.length]))
        self.length += len(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b"".join(self.chunks)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.length


class _CappedFactory(py7zr.io.WriterFactory):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffers: dict[str, _CappedBuffer] = {}

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        if filename in self.buffers:  # a second entry of the same name: the first one wins
            return _CappedBuffer(-1)
        return self.buffers.setdefault(filename, _CappedBuffer(self.limit))


_7Z_ERRORS = (
    py7zr.exceptions.ArchiveError,
    py7zr.exceptions.Bad7zFile,
    lzma.LZMAError,  # corrupt LZMA/LZMA2 data: py7zr lets the decoder's error through
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
)


class SevenZipReader(ArchiveReader):
    """7z via py7zr. 7z archives are usually solid, so the pages are decompressed in one call
    into memory (bounded by max_total_bytes) and then handed out in reading order."""

    container = "7z"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.archive = py7zr.SevenZipFile(path)
        except py7zr.exceptions.PasswordRequired as exc:
            raise BookError("password-protected 7z archive (encrypted headers)") from exc
        except _7Z_ERRORS as exc:
            raise BookError(f"corrupt or truncated 7z archive: {exc}") from exc

    def close(self) -> None:
        self.archive.close()

    def members(self, limits: ExtractionLimits) -> list[Member]:
        infos = self.archive.list()
        if len(infos) > limits.max_entries:
            raise UnsafeArchiveError(
                f"too many entries: {len(infos)} > max_entries {limits.max_entries}"
            )
        encrypted = self.archive.needs_password()
        members = []
        for info in infos:
            check_member_name(info.filename)
            if info.is_symlink:
                _refuse_link(info.filename, None)
            if info.is_directory:
                continue
            members.append(Member(info.filename, info.uncompressed, None, encrypted))
        return members

    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        factory = _CappedFactory(limits.max_entry_bytes)
        try:
            self.archive.reset()
            self.archive.extract(targets=list(names), factory=factory)
        except py7zr.exceptions.PasswordRequired as exc:
            raise BookError("password-protected 7z archive") from exc
        except (*_7Z_ERRORS, py7zr.exceptions.CrcError) as exc:
            raise BookError(f"corrupt or truncated 7z archive: {exc}") from exc
        for name in names:
            buffer = factory.buffers.get(name)
            if buffer is None:
                raise BookError(f"7z archive lost page {name!r} while extracting (corrupt?)")
            if buffer.length > limits.max_entry_bytes:
                raise UnsafeArchiveError(
                    f"entry {name!r} holds more than max_entry_bytes ({limits.max_entry_bytes})"
                )
            yield name, buffer.read()
            del factory.buffers[name]  # hand memory back as the pages go out


# folders -----------------------------------------------------------------------------------
class FolderReader(ArchiveReader):
    """A directory of images: the files directly in it, as the folder-tree source lists such a
    book (a subfolder of images is a book of its own). With a Dark Horse ``manifest.json`` it
    is an unpacked app download, paged by the manifest."""

    container = "folder"
    what = "folder"
    reads_folder = True

    def members(self, limits: ExtractionLimits) -> list[Member]:
        root = self.path.resolve()
        members = []
        try:
            entries = sorted(os.scandir(root), key=lambda entry: entry.name)
        except OSError as exc:
            raise BookError(f"cannot list folder: {exc.strerror}") from exc
        for entry in entries:
            full = Path(entry.path)
            if full.is_symlink() and not full.resolve().is_relative_to(root):
                _refuse_link(entry.name, os.readlink(full))
            if not full.is_file():
                continue
            members.append(Member(entry.name, full.stat().st_size))
            if len(members) > limits.max_entries:
                raise UnsafeArchiveError(
                    f"too many entries: more than max_entries {limits.max_entries}"
                )
        if any(is_manifest_name(m.name) for m in members):
            with open(root / MANIFEST_NAME, "rb") as handle:
                self._use_manifest(handle.read(MAX_MANIFEST_BYTES + 1))
        return members

    def read(self, names: Sequence[str], limits: ExtractionLimits) -> Iterator[tuple[str, bytes]]:
        for name in names:
            try:
                with open(self._folder / name, "rb") as handle:
                    yield name, read_capped(handle, limits.max_entry_bytes, name)
            except OSError as exc:
                raise BookError(f"cannot read {name!r}: {exc.strerror}") from exc

    @property
    def _folder(self) -> Path:
        return self.path


class LoosePagesReader(FolderReader):
    """Some of a folder's images, as one book: pages that the folder-tree source grouped by
    their names (``sources.loose_pages``). ``path`` names the book inside the folder (its
    parent); ``page_files`` are the folder's file names in reading order."""

    what = "group of pages"

    def __init__(self, path: Path, page_files: Sequence[str]) -> None:
        super().__init__(path)
        self.page_files = tuple(page_files)

    @property
    def _folder(self) -> Path:
        return self.path.parent

    def members(self, limits: ExtractionLimits) -> list[Member]:
        if len(self.page_files) > limits.max_entries:
            raise UnsafeArchiveError(
                f"too many entries: {len(self.page_files)} > max_entries {limits.max_entries}"
            )
        root = self._folder.resolve()
        members = []
        for name in self.page_files:
            if "/" in name or name in ("", ".", ".."):
                raise UnsafeArchiveError(f"page file {name!r} is not a name in the folder")
            full = root / name
            try:
                if full.is_symlink() and not full.resolve().is_relative_to(root):
                    _refuse_link(name, os.readlink(full))
                members.append(Member(name, full.stat().st_size))
            except FileNotFoundError:
                raise BookError(f"page file {name!r} is gone from the folder") from None
        return members

    def choose_pages(self, members: list[Member]) -> list[Member]:
        # The grouping already ordered the pages by their numbers; a name given twice is
        # one page.
        first: dict[str, Member] = {}
        for member in members:
            first.setdefault(member.name, member)
        return list(first.values())
