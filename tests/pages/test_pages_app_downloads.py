"""Dark Horse app downloads: a tar (named anything) or a folder, paged by its manifest.json."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.lake import Lake
from comix_resources.page_store import extract_book
from comix_resources.pages import ExtractionLimits, detect_container, inspect_book, iter_pages

ImageFactory = Callable[..., bytes]


def manifest(pages: Sequence[tuple[str, object, str]], **fields: object) -> bytes:
    listed = [{"sort_order": o, "src_image": n, "mime_type": m} for n, o, m in pages]
    return json.dumps(
        {"book_uuid": "aebf9496", "is_rtl": False, **fields, "pages": listed}
    ).encode()


def write_tar(path: Path, members: Sequence[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def three_pages(jpeg_bytes: ImageFactory, png_bytes: ImageFactory) -> dict[str, bytes]:
    # ids whose name order (0..., 7..., f...) is not the reading order
    return {"f0c1": jpeg_bytes(seed=1), "7a2e": jpeg_bytes(seed=2), "0b9d": png_bytes(30, 20)}


ORDER = [("f0c1", 1, "image/jpeg"), ("7a2e", 2, "image/jpeg"), ("0b9d", 3, "image/png")]


def test_tar_named_by_its_id_is_paged_by_sort_order(
    tmp_path: Path, three_pages: dict[str, bytes]
) -> None:
    # The manifest lists the pages in name order; sort_order decides; members sit under ./
    listed = sorted(ORDER)
    members = [("manifest.json", manifest(listed, title="Hellboy #1", is_rtl=True))]
    members += [(f"./{name}", data) for name, data in sorted(three_pages.items())]
    book = write_tar(tmp_path / "aebf949665b14a90a6737274051ce527", members)

    assert detect_container(book) == "tar"
    inspection = inspect_book(book)
    assert inspection.container == "darkhorse"
    assert inspection.page_names == ("./f0c1", "./7a2e", "./0b9d")
    assert (inspection.book_uuid, inspection.title, inspection.is_rtl) == (
        "aebf9496",
        "Hellboy #1",
        True,
    )
    pages = list(iter_pages(book))
    assert [p.data for p in pages] == [three_pages[n] for n, _, _ in ORDER]
    assert [p.ext for p in pages] == ["jpg", "jpg", "png"]  # typed by their bytes


def test_unpacked_download_folder(tmp_path: Path, three_pages: dict[str, bytes]) -> None:
    folder = tmp_path / "Hellboy 001"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(manifest(ORDER))
    for name, data in three_pages.items():
        (folder / name).write_bytes(data)
    inspection = inspect_book(folder)
    assert inspection.container == "darkhorse"
    assert inspection.page_names == ("f0c1", "7a2e", "0b9d")
    assert inspection.is_rtl is False
    assert [p.data for p in iter_pages(folder)] == [three_pages[n] for n, _, _ in ORDER]


def test_ties_keep_manifest_order_and_a_member_listed_twice_is_one_page(
    tmp_path: Path, three_pages: dict[str, bytes]
) -> None:
    listed = [("7a2e", 1, "image/jpeg"), ("f0c1", 1, "image/jpeg"), ("7a2e", 2, "image/jpeg")]
    members = [("manifest.json", manifest(listed)), *three_pages.items()]
    book = write_tar(tmp_path / "book.tar", members)
    assert inspect_book(book).page_names == ("7a2e", "f0c1")


def test_a_name_listed_twice_in_the_tar_means_its_first_entry(
    tmp_path: Path, jpeg_bytes: ImageFactory
) -> None:
    first, second = jpeg_bytes(seed=5), jpeg_bytes(seed=6)
    members = [
        ("manifest.json", manifest([("a1", 1, "image/jpeg")])),
        ("a1", first),
        ("a1", second),
        ("manifest.json", manifest([("zz", 1, "image/jpeg")])),  # the first manifest wins too
    ]
    book = write_tar(tmp_path / "book", members)
    assert [p.data for p in iter_pages(book)] == [first]


def test_manifest_naming_a_missing_member_fails_the_book(
    tmp_path: Path, three_pages: dict[str, bytes]
) -> None:
    listed = [*ORDER, ("dead", 4, "image/jpeg")]
    book = write_tar(tmp_path / "book", [("manifest.json", manifest(listed)), *three_pages.items()])
    with pytest.raises(BookError, match=r"manifest.json names page 'dead' \(sort_order 4\), "):
        inspect_book(book)
    folder = tmp_path / "unpacked"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(manifest(listed))
    with pytest.raises(BookError, match=r"which is not in the folder"):
        inspect_book(folder)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'{"book_uuid": "x", "pages": []}', r"^manifest.json lists no pages$"),
        (b'{"book_uuid": "x"}', r"^manifest.json lists no pages$"),
        (b'{"pages": [{"sort_order": 1}]}', r"page 1 has no src_image"),
        (b'{"pages": [{"src_image": "a", "sort_order": "first"}]}', r"sort_order 'first'"),
        (b'{"pages": [', r"^manifest.json is not valid JSON"),
    ],
)
def test_manifest_that_cannot_page_the_book(
    tmp_path: Path, document: bytes, message: str, jpeg_bytes: ImageFactory
) -> None:
    book = write_tar(tmp_path / "book", [("manifest.json", document), ("a", jpeg_bytes())])
    with pytest.raises(BookError, match=message):
        inspect_book(book)


def test_manifest_cannot_name_files_outside_the_book(tmp_path: Path) -> None:
    listed = [("../../etc/passwd", 1, "image/jpeg")]
    book = write_tar(tmp_path / "book", [("manifest.json", manifest(listed))])
    with pytest.raises(UnsafeArchiveError, match=r"parent-directory '\.\.'"):
        inspect_book(book)
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        inspect_book(write_tar(tmp_path / "b2", [("manifest.json", manifest([("/x", 1, "")]))]))


def test_oversized_manifest_is_refused(tmp_path: Path) -> None:
    huge = b'{"pages": [' + b" " * (4 * 1024**2) + b"]}"
    with pytest.raises(UnsafeArchiveError, match=r"manifest\.json holds more than"):
        inspect_book(write_tar(tmp_path / "book", [("manifest.json", huge)]))


def test_limits_hold_for_manifest_pages(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    data = jpeg_bytes(seed=9)
    listed = [(f"p{n}", n, "image/jpeg") for n in range(5)]
    book = write_tar(
        tmp_path / "book",
        [("manifest.json", manifest(listed)), *((f"p{n}", data) for n in range(5))],
    )
    with pytest.raises(UnsafeArchiveError, match="too many pages: 5 > max_pages 3"):
        inspect_book(book, ExtractionLimits(max_pages=3))
    with pytest.raises(UnsafeArchiveError, match="max_entry_bytes"):
        inspect_book(book, ExtractionLimits(max_entry_bytes=len(data) - 1))


def test_other_tools_manifest_leaves_a_plain_tar(tmp_path: Path, jpeg_bytes: ImageFactory) -> None:
    members = [("manifest.json", b'{"version": 2, "files": ["p1.jpg"]}'), ("p1.jpg", jpeg_bytes())]
    inspection = inspect_book(write_tar(tmp_path / "book.cbt", members))
    assert (inspection.container, inspection.page_names) == ("tar", ("p1.jpg",))


def test_bytes_that_are_no_image_keep_the_declared_type(tmp_path: Path) -> None:
    listed = [("a1", 1, "image/jpeg")]
    book = write_tar(tmp_path / "book", [("manifest.json", manifest(listed)), ("a1", b"x" * 64)])
    [page] = list(iter_pages(book))
    assert page.data is None and page.ext == "jpg"
    assert page.error == "unrecognised image data (unknown signature)"


def test_extracted_into_the_lake_in_manifest_order(
    tmp_path: Path, three_pages: dict[str, bytes]
) -> None:
    members = [("manifest.json", manifest(sorted(ORDER))), *sorted(three_pages.items())]
    book = write_tar(tmp_path / "download", members)
    lake = Lake(str(tmp_path / "lake"))
    rows, reused = extract_book(lake, lake.path("pages"), "dh", book, ExtractionLimits())
    assert not reused
    assert [r["source_name"] for r in rows] == ["f0c1", "7a2e", "0b9d"]
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["0000.jpg", "0001.jpg", "0002.png"]
