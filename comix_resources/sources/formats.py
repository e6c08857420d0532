"""Which files are comic books, and in which declared format."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Declared format by file suffix (lower case). Plain archive suffixes count as comics because
# scanners and shops often ship `.zip`/`.rar`/`.7z`; the page reader sniffs the real container.
COMIC_EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".cbz": "cbz",
    ".zip": "cbz",
    ".cbr": "cbr",
    ".rar": "cbr",
    ".cb7": "cb7",
    ".7z": "cb7",
    ".cbt": "cbt",
    ".tar": "cbt",
    # Compressed tarballs: tarfile reads all of these in-process.
    ".tar.gz": "cbt",
    ".tgz": "cbt",
    ".tar.bz2": "cbt",
    ".tbz": "cbt",
    ".tbz2": "cbt",
    ".tar.xz": "cbt",
    ".txz": "cbt",
    ".epub": "epub",
}

# Page images that Pillow decodes out of the box.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)

# Folder entries that are never books: macOS resource forks and metadata droppings.
IGNORED_NAMES: frozenset[str] = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


def _suffixes(path: Path | str) -> list[str]:
    """``Path(path).suffixes`` of the lower-cased name, without building a Path: a folder of
    800,000 pages asks this of every file."""
    name = os.path.basename(os.fspath(path)).lower()
    if name.endswith("."):
        return []
    return ["." + part for part in name.lstrip(".").split(".")[1:]]


def comic_format(path: Path | str) -> str | None:
    """The declared format of a comic file from its name (`"cbz"`, ...), or None if not a comic.

    Two-part suffixes (`.tar.gz`) are checked before single ones, case-insensitively.
    """
    suffixes = _suffixes(path)
    if len(suffixes) >= 2 and (fmt := COMIC_EXTENSIONS.get("".join(suffixes[-2:]))):
        return fmt
    return COMIC_EXTENSIONS.get(suffixes[-1]) if suffixes else None


def is_image(path: Path | str) -> bool:
    suffixes = _suffixes(path)
    return bool(suffixes) and suffixes[-1] in IMAGE_EXTENSIONS


def strip_image_suffixes(name: str) -> str:
    """A page file's name without its image extensions: converters leave two
    (``p000.jpg.png``)."""
    for _ in range(2):
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem or f".{suffix.lower()}" not in IMAGE_EXTENSIONS:
            break
        name = stem
    return name


# What a file extension looks like: a dot, a letter, up to four more letters or digits.
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")


def may_be_unnamed_book(name: str) -> bool:
    """A file whose name has no extension (``aebf9496...``, ``Hellboy Vol. 1``): an archive
    saved under an id, as app downloads are, is only known by its bytes."""
    return _EXTENSION.search(name) is None


def is_ignored(name: str) -> bool:
    """Hidden entries (dotfiles, AppleDouble `._x`), resource forks and OS droppings."""
    return name.startswith(".") or name in IGNORED_NAMES
