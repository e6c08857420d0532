"""Stable, content-derived identifiers and UI-safe partition keys (DESIGN.md "Contracts")."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

BOOK_ID_LENGTH = 16
_HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_bytes(text: str) -> bytes:
    """The bytes behind a file or folder name as Python decoded it.

    POSIX names are bytes; Python shows the ones that are not UTF-8 as lone surrogates
    (``surrogateescape``), which UTF-8 writers (SQLite, polars, JSON stores) refuse. Encoding
    them back gives the original bytes, so digests and keys stay exact and equal to plain
    ``encode()`` for every name that is valid UTF-8.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte (not from the OS)
        return text.encode("utf-8", "surrogatepass")


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8 for tables, logs and the UI: undecodable bytes become ``\\xNN``.

    Lossy on purpose (a name that really contains a backslash looks the same); the exact
    name is kept as bytes where it matters (``raw_bytes``).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return raw_bytes(text).decode("utf-8", "backslashreplace")
    return text


def sha256_text(text: str) -> str:
    """Digest of a text that may hold a file name's escaped bytes."""
    return sha256_bytes(raw_bytes(text))


def book_id_from_sha256(sha256: str) -> str:
    """A book is its bytes: the same file in two places or two sources has one id."""
    return sha256[:BOOK_ID_LENGTH]


def page_id(book_id: str, page_index: int) -> str:
    return f"{book_id}-{page_index:04d}"


def slugify(name: str, max_length: int = 48) -> str:
    """Lower-case ASCII `[a-z0-9_-]`, safe in the Dagster UI, URLs and file names.

    A name with nothing ASCII in it (CJK, emoji) is named by its hash, so each such name keeps
    its own key whatever other names appear beside it.
    """
    ascii_name = unicodedata.normalize("NFKD", safe_text(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_name.lower()).strip("-_")
    slug = slug[:max_length].rstrip("-_")
    return slug or f"collection-{short_hash(name)}"


def short_hash(text: str, length: int = 6) -> str:
    return sha256_text(text)[:length]


def partition_keys(names: Iterable[str]) -> dict[str, str]:
    """Map display names to partition keys; colliding slugs get a hash of the name as suffix.

    The first name (in sorted order) of a colliding group keeps the bare slug, so keys stay
    stable across runs as long as the set of colliding names does not gain an earlier member.
    """
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(set(names)):
        slug = slugify(name)
        key = slug if slug not in taken else f"{slug[:40]}-{short_hash(name)}"
        taken.add(key)
        keys[name] = key
    return keys
