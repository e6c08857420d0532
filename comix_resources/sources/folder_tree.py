"""Folder-tree sources (Amazon/Comixology and Dark Horse exports): one collection per folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from comix_resources.ids import partition_keys, safe_text
from comix_resources.sources.formats import comic_format, is_ignored, is_image
from comix_resources.sources.model import BookFile, Collection, unknown_collection

log = logging.getLogger(__name__)


class FolderTreeSource:
    """A root folder whose first-level folders are the collections.

    The books of a collection are the comic files at any depth below its folder, plus every
    plain image folder (a directory that directly holds at least one image and no comic file),
    which is one book of format ``"folder"``. Files directly in the root belong to no collection
    and are ignored, as are hidden entries, ``__MACOSX`` and any non-comic file (``*.truth.json``,
    ``.nfo``, ...). A missing root yields no collections.

    Symbolic links: a linked directory is followed only when its target lies inside the root
    (so a link cannot pull a foreign tree into the corpus, and link loops end); a linked file is
    listed wherever it points; a broken link is skipped.
    """

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        # Keep the root as given (absolute, not resolved) so relative paths match what the user
        # sees; containment is checked against the resolved root.
        self.root = Path(root).expanduser().absolute()

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
                    entries = list(it)
            except OSError as exc:
                # An unreadable folder costs its books, not the whole collection.
                log.warning("%s: cannot list %s: %s", self.name, current, exc)
                continue
            image_sizes: list[int] = []
            image_mtimes: list[int] = []
            has_comic = False
            for entry in entries:
                if is_ignored(entry.name):
                    continue
                try:
                    if entry.is_dir():
                        stack.append(Path(entry.path))
                        continue
                    if not entry.is_file():  # broken link, socket, fifo
                        continue
                    fmt = comic_format(entry.name)
                    if fmt is None and not is_image(entry.name):
                        continue
                    stat = entry.stat()
                except OSError:
                    continue
                if fmt is not None:
                    has_comic = True
                    books.append(self._book(Path(entry.path), fmt, stat.st_size, stat.st_mtime_ns))
                else:
                    image_sizes.append(stat.st_size)
                    image_mtimes.append(stat.st_mtime_ns)
            if image_sizes and not has_comic:
                books.append(self._book(current, "folder", sum(image_sizes), max(image_mtimes)))
        return tuple(sorted(books, key=lambda b: b.relative_path))

    def _book(self, path: Path, fmt: str, size: int, mtime_ns: int) -> BookFile:
        return BookFile(
            path=path,
            relative_path=path.relative_to(self.root).as_posix(),
            format=fmt,
            size=size,
            mtime_ns=mtime_ns,
        )
