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


def book_id_from_sha256(sha256: str) -> str:
    """A book is its bytes: the same file in two places or two sources has one id."""
    return sha256[:BOOK_ID_LENGTH]


def page_id(book_id: str, page_index: int) -> str:
    return f"{book_id}-{page_index:04d}"


def slugify(name: str, max_length: int = 48) -> str:
    """Lower-case ASCII `[a-z0-9_-]`, safe in the Dagster UI, URLs and file names."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_name.lower()).strip("-_")
    slug = slug[:max_length].rstrip("-_")
    return slug or "collection"


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


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
