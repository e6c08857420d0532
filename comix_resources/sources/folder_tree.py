"""Folder-tree sources (Amazon/Comixology and Dark Horse exports): one collection per folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from comix_resources.errors import BookError
from comix_resources.ids import partition_keys, safe_text
from comix_resources.pages import MANIFEST_NAME, MAX_MANIFEST_BYTES, detect_container
from comix_resources.sources.formats import (
    comic_format,
    is_ignored,
    is_image,
    may_be_unnamed_book,
)
from comix_resources.sources.loose_pages import compile_page_name_pattern, group_pages
from comix_resources.sources.model import (
    GROUPING_FILE,
    GROUPING_FOLDER,
    GROUPING_MANIFEST,
    GROUPING_PAGE_NAMES,
    BookFile,
    Collection,
    unknown_collection,
)

log = logging.getLogger(__name__)


class FolderTreeSource:
    """A root folder whose first-level folders are the collections.

    The books of a collection are the comic files at any depth below its folder (a file named
    without an extension counts when its bytes are an archive: app downloads saved under their
    id), plus the images of every folder that holds no comic file. Those images are one book
    of format ``"folder"`` (the files directly in it), unless their names give two or more
    books (``sources.loose_pages``, ``page_name_pattern``): then each is a book of format
    ``"pages"`` named ``<folder>/<book>``. A folder with a Dark Horse app ``manifest.json`` is
    one book (an unpacked download), whatever its files are called. Files directly in the root
    belong to no collection and are ignored, as are hidden entries, ``__MACOSX`` and any other
    file (``*.truth.json``, ``.nfo``, ...). A missing root yields no collections.

    Symbolic links: a linked directory is followed only when its target lies inside the root
    (so a link cannot pull a foreign tree into the corpus, and link loops end); a linked file is
    listed wherever it points; a broken link is skipped.
    """

    def __init__(self, name: str, root: Path, page_name_pattern: str | None = None) -> None:
        self.name = name
        # Keep the root as given (absolute, not resolved) so relative paths match what the user
        # sees; containment is checked against the resolved root.
        self.root = Path(root).expanduser().absolute()
        self.page_name_pattern = compile_page_name_pattern(page_name_pattern)

    def __repr__(self) -> str:
        return f"FolderTreeSource(name={self.name!r}, root={str(self.root)!r})"

    def collections(self) -> list[Collection]:
        folders = self._collection_folders()
        keys = partition_keys(folders)
        found = [Collection(keys[n], safe_text(n), self._scan(folders[n])) for n in folders]
        return sorted(found, key=lambda c: c.key)

    def collection(self, key: str) -> Collection:
        # Only the requested folder is walked: a partition run must not pay for the whole tree.
        folders = self._collection_folders()
        for name, name_key in partition_keys(folders).items():
            if name_key == key:
                return Collection(key, safe_text(name), self._scan(folders[name]))
        raise unknown_collection(self.name, key, list(partition_keys(folders).values()))

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _inside_root(self, path: str, real_root: str) -> bool:
        real = os.path.realpath(path)
        return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)

    def _collection_folders(self) -> dict[str, Path]:
        if not self.root.is_dir():
            if self.root.exists():
                log.warning("%s: root %s is not a folder; no collections", self.name, self.root)
            else:
                log.info("%s: root %s does not exist; no collections", self.name, self.root)
            return {}
        real_root = self._real_root()
        folders: dict[str, Path] = {}
        with os.scandir(self.root) as entries:
            for entry in entries:
                if is_ignored(entry.name):
                    continue
                try:
                    is_dir = entry.is_dir()  # follows links; False for broken ones
                except OSError:
                    continue
                if is_dir and self._inside_root(entry.path, real_root):
                    folders[entry.name] = Path(entry.path)
        return folders

    def _scan(self, folder: Path) -> tuple[BookFile, ...]:
        real_root = self._real_root()
        books: list[BookFile] = []
        visited: set[str] = set()  # resolved folders already walked: ends link loops
        stack = [folder]
        while stack:
            current = stack.pop()
            real = os.path.realpath(current)
            if real in visited or not self._inside_root(str(current), real_root):
                continue
            visited.add(real)
            try:
                with os.scandir(current) as it:
                    entries = [entry for entry in it if not is_ignored(entry.name)]
            except OSError as exc:
                # An unreadable folder costs its books, not the whole collection.
                log.warning("%s: cannot list %s: %s", self.name, current, exc)
                continue
            books += self._folder_books(current, entries, stack)
        return tuple(sorted(books, key=lambda b: b.relative_path))

    def _folder_books(
        self, folder: Path, entries: list[os.DirEntry[str]], subfolders: list[Path]
    ) -> list[BookFile]:
        """The books of one folder's entries; its subfolders go on ``subfolders``."""
        files: dict[str, os.stat_result] = {}  # regular files, by name
        folder_names: set[str] = set()
        for entry in entries:
            try:
                if entry.is_dir():
                    subfolders.append(Path(entry.path))
                    folder_names.add(entry.name)
                elif entry.is_file():  # not a broken link, socket or fifo
                    files[entry.name] = entry.stat()
            except OSError:
                continue
        if MANIFEST_NAME in files and _is_app_manifest(folder / MANIFEST_NAME):
            # An unpacked app download: the folder is the book, its files are named by ids.
            return [self._book(folder, "folder", files.values(), GROUPING_MANIFEST)]
        books: list[BookFile] = []
        images: dict[str, os.stat_result] = {}
        for name, stat in files.items():
            fmt = comic_format(name)
            if fmt is None and may_be_unnamed_book(name):
                fmt = _UNNAMED_FORMATS.get(_archive_kind(folder / name))
            if fmt is not None:
                books.append(self._book(folder / name, fmt, [stat]))
            elif is_image(name):
                images[name] = stat
        if not images or books:  # images beside a comic file are its cover art, not a book
            return books
        groups = group_pages(images, self.page_name_pattern)
        if groups is None:
            return [self._book(folder, "folder", images.values(), GROUPING_FOLDER)]
        grouped = []
        for group in groups:
            # A subfolder may carry the book's name: the book's path must still be its own.
            name = group.name if group.name not in folder_names else f"{group.name} (pages)"
            grouped.append(
                self._book(
                    folder / name,
                    "pages",
                    [images[file] for file in group.files],
                    GROUPING_PAGE_NAMES,
                    group.files,
                )
            )
        return grouped

    def _book(
        self,
        path: Path,
        fmt: str,
        stats: Iterable[os.stat_result],
        grouping: str = GROUPING_FILE,
        page_files: tuple[str, ...] = (),
    ) -> BookFile:
        stats = list(stats)
        return BookFile(
            path=path,
            relative_path=path.relative_to(self.root).as_posix(),
            format=fmt,
            size=sum(stat.st_size for stat in stats),
            mtime_ns=max((stat.st_mtime_ns for stat in stats), default=0),
            grouping=grouping,
            page_files=page_files,
        )


# The declared format of a file named without an extension, by what its bytes are.
_UNNAMED_FORMATS = {"tar": "cbt", "zip": "cbz", "rar": "cbr", "7z": "cb7", "pdf": "pdf"}


def _archive_kind(path: Path) -> str | None:
    try:
        return detect_container(path)
    except BookError:
        return None


def _is_app_manifest(path: Path) -> bool:
    """A Dark Horse app manifest, not some other tool's ``manifest.json`` (read cheaply: the
    page reader parses it for real)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(MAX_MANIFEST_BYTES)
    except OSError:
        return False
    return b'"src_image"' in head or b'"book_uuid"' in head
