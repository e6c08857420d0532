from __future__ import annotations

import io
import json
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import py7zr
import pymupdf
import pytest

from comix_resources.demo import DemoSummary, generate_demo_library


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate_demo_library(tmp_path_factory.mktemp("demo") / "library", seed=7)


def load_truth(book: Path) -> dict[str, Any]:
    return json.loads(book.with_name(book.name + ".truth.json").read_text(encoding="utf-8"))


def _app_download(members: dict[str, bytes]) -> list[bytes]:
    manifest = json.loads(members["manifest.json"])
    pages = sorted(manifest["pages"], key=lambda page: page["sort_order"])
    return [members[page["src_image"]] for page in pages]


def page_bytes(book: Path) -> list[bytes]:
    """The page images of a book in reading order (natural name order / PDF page order / an
    app download's sort_order / a loose book's page files), read without the page reader."""
    truth = load_truth(book)
    if truth["format"] == "loose":
        return [(book.parent / name).read_bytes() for name in truth["page_files"]]
    if truth["format"] == "app-folder":
        return _app_download({p.name: p.read_bytes() for p in book.iterdir()})
    if truth["format"] == "app-tar":
        with tarfile.open(book) as tf:
            return _app_download(
                {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
            )
    suffix = book.suffix.lower()
    if suffix == ".cbz":
        with zipfile.ZipFile(book) as zf:
            names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
            return [zf.read(n) for n in names]
    if suffix == ".cbt":
        with tarfile.open(book) as tf:  # transparent gzip
            members = sorted(
                (m for m in tf.getmembers() if m.name.endswith(".jpg")), key=lambda m: m.name
            )
            return [tf.extractfile(m).read() for m in members]  # type: ignore[union-attr]
    if suffix == ".cb7":
        with tempfile.TemporaryDirectory() as tmp, py7zr.SevenZipFile(book) as archive:
            archive.extractall(tmp)
            return [p.read_bytes() for p in sorted(Path(tmp).glob("*.jpg"))]
    if suffix == ".pdf":
        out = []
        with pymupdf.open(book) as doc:
            for page in doc:
                images = page.get_images(full=True)
                assert len(images) == 1, f"{book} page {page.number}: {len(images)} images"
                out.append(doc.extract_image(images[0][0])["image"])
        return out
    raise AssertionError(f"unexpected book {book}")


def decode_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.size


@pytest.fixture(scope="session")
def read_pages() -> Any:
    return page_bytes


@pytest.fixture(scope="session")
def truth_of() -> Any:
    return load_truth
