from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from comix_resources.settings import ComixSettings
from comix_resources.sources import (
    BookFile,
    CalibreSource,
    ComicSource,
    FolderTreeSource,
    comic_format,
    make_source,
)

KEY = re.compile(r"^[a-z0-9_-]+$")


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "amazon"
    touch(root / "Sci-Fi" / "Captain Science #001.cbz", b"12345")
    touch(root / "Sci-Fi" / "deep" / "deeper" / "Book.CBR")
    touch(root / "Sci-Fi" / "deep" / "Book.tar.gz")
    touch(root / "Sci-Fi" / "deep" / "Book.cbz.truth.json")
    touch(root / "Sci-Fi" / "notes.txt")
    touch(root / "Sci-Fi" / ".hidden.cbz")
    touch(root / "Sci-Fi" / ".cache" / "x.cbz")
    touch(root / "Sci-Fi" / "__MACOSX" / "x.cbz")
    # A plain image folder is one book; a folder with images next to a comic is not.
    touch(root / "Sci-Fi" / "Scan 001" / "p01.jpg", b"aa")
    touch(root / "Sci-Fi" / "Scan 001" / "p02.PNG", b"bbb")
    touch(root / "Sci-Fi" / "Scan 001" / "info.txt")
    touch(root / "Sci-Fi" / "Mixed" / "cover.jpg")
    touch(root / "Sci-Fi" / "Mixed" / "Mixed.pdf")
    touch(root / "Sci Fi" / "Other.cb7")
    (root / "Empty").mkdir()
    touch(root / ".git" / "x.cbz")
    touch(root / "loose.cbz")  # not in a collection folder: ignored
    return root


def keys_of(source: ComicSource) -> list[str]:
    return [c.key for c in source.collections()]


def test_comic_format() -> None:
    assert comic_format("a.CBZ") == "cbz"
    assert comic_format("a.zip") == "cbz"
    assert comic_format("a.rar") == "cbr"
    assert comic_format("a.7z") == "cb7"
    assert comic_format("a.tar.xz") == "cbt"
    assert comic_format("a.tgz") == "cbt"
    assert comic_format("Vol. 1.epub") == "epub"
    assert comic_format("a.cbz.truth.json") is None
    assert comic_format("README") is None


def test_collections_and_books(tree: Path) -> None:
    source = FolderTreeSource("amazon", tree)
    collections = source.collections()
    by_name = {c.name: c for c in collections}
    assert set(by_name) == {"Sci-Fi", "Sci Fi", "Empty"}
    assert [c.key for c in collections] == sorted(c.key for c in collections)
    assert by_name["Empty"].books == ()

    books = by_name["Sci-Fi"].books
    assert [(b.relative_path, b.format) for b in books] == [
        ("Sci-Fi/Captain Science #001.cbz", "cbz"),
        ("Sci-Fi/Mixed/Mixed.pdf", "pdf"),
        ("Sci-Fi/Scan 001", "folder"),
        ("Sci-Fi/deep/Book.tar.gz", "cbt"),
        ("Sci-Fi/deep/deeper/Book.CBR", "cbr"),
    ]
    first = books[0]
    assert first.path == tree / "Sci-Fi" / "Captain Science #001.cbz"
    assert first.path.is_absolute()
    assert first.size == 5
    assert first.mtime_ns == first.path.stat().st_mtime_ns
    assert first.catalog == {}

    folder = books[2]
    images = [folder.path / "p01.jpg", folder.path / "p02.PNG"]
    assert folder.size == 5
    assert folder.mtime_ns == max(p.stat().st_mtime_ns for p in images)


def test_partition_keys_safe_stable_and_colliding(tree: Path) -> None:
    source = FolderTreeSource("amazon", tree)
    first, second = keys_of(source), keys_of(FolderTreeSource("amazon", tree))
    assert first == second
    assert all(KEY.match(k) for k in first)
    by_name = {c.name: c.key for c in source.collections()}
    # "Sci Fi" and "Sci-Fi" both slug to "sci-fi": the later name gets a hash suffix.
    assert by_name["Sci Fi"] == "sci-fi"
    assert by_name["Sci-Fi"].startswith("sci-fi-") and len(by_name["Sci-Fi"]) > len("sci-fi-")
    assert len(set(by_name.values())) == 3


def test_collection_by_key(tree: Path) -> None:
    source = FolderTreeSource("amazon", tree)
    for expected in source.collections():
        assert source.collection(expected.key) == expected
    with pytest.raises(KeyError, match="amazon: no collection with partition key 'nope'"):
        source.collection("nope")


def test_missing_root_has_no_collections(tmp_path: Path) -> None:
    assert FolderTreeSource("darkhorse", tmp_path / "absent").collections() == []
    touch(tmp_path / "file")
    assert FolderTreeSource("darkhorse", tmp_path / "file").collections() == []
    with pytest.raises(KeyError):
        FolderTreeSource("darkhorse", tmp_path / "absent").collection("x")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "A" / "a.cbz")
    touch(tmp_path / "outside" / "secret.cbz")
    touch(root / "Shared" / "s.cbz")
    (root / "A" / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "Outside").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "A" / "inside").symlink_to(root / "Shared", target_is_directory=True)
    (root / "A" / "loop").symlink_to(root / "A", target_is_directory=True)
    (root / "A" / "broken.cbz").symlink_to(tmp_path / "missing.cbz")

    source = FolderTreeSource("amazon", root)
    assert sorted(c.name for c in source.collections()) == ["A", "Shared"]
    books = [b.relative_path for b in source.collection("a").books]
    assert books == ["A/a.cbz", "A/inside/s.cbz"]


def test_make_source(tmp_path: Path) -> None:
    settings = ComixSettings.from_env(
        {
            "COMIX_HOME": str(tmp_path),
            "COMIX_AMAZON_ROOT": str(tmp_path / "amazon"),
            "COMIX_CALIBRE_LIBRARY": str(tmp_path / "calibre"),
            "COMIX_CALIBRE_COLLECTION_BY": "series",
        }
    )
    amazon = make_source("amazon", settings)
    assert isinstance(amazon, FolderTreeSource) and amazon.name == "amazon"
    assert isinstance(amazon, ComicSource)
    assert make_source("darkhorse", settings) is None
    calibre = make_source("calibre", settings)
    assert isinstance(calibre, CalibreSource) and calibre.collection_by == "series"
    assert calibre.collections() == []  # no metadata.db: nothing, no crash
    with pytest.raises(ValueError, match="unknown source"):
        make_source("kindle", settings)


def test_book_file_is_hashable() -> None:
    book = BookFile(Path("/x.cbz"), "c/x.cbz", "cbz", 1, 2, {"calibre_id": 1})
    assert len({book, book}) == 1


def test_folder_and_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    import os

    from comix_resources.discovery import content_digest, stat_digest
    from comix_resources.fingerprints import FingerprintCache

    folder = tmp_path / os.fsdecode(b"Bad \xff folder")
    book = folder / os.fsdecode(b"\xfe.cbz")
    images = folder / "scans"
    touch(book, b"PK\x05\x06" + bytes(18))
    touch(images / os.fsdecode(b"p\xe9.jpg"), b"\xff\xd8\xff")
    [collection] = FolderTreeSource("amazon", tmp_path).collections()
    assert collection.name == "Bad \\xff folder" and collection.key == "bad-xff-folder"
    collection.name.encode("utf-8")  # a run tag, a log line, a sensor cursor can hold it
    cache = FingerprintCache(tmp_path / "cache" / "fingerprints.sqlite")
    assert stat_digest(collection) and content_digest(collection, cache)
    for found in collection.books:
        assert cache.cached_sha256(found.path, found.size, found.mtime_ns)
