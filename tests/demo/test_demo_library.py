from __future__ import annotations

import hashlib
import io
import itertools
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pymupdf
import pytest
from PIL import Image

from comix_resources.demo import CATALOG, DemoSummary, generate_demo_library
from comix_resources.demo.library import render_book
from comix_resources.page_classes import CLASS_TO_COMICINFO

PAGE_TYPES = {
    "cover",
    "credits",
    "first-page",
    "story",
    "advertisement",
    "textstory",
    "art",
    "back_cover",
    "non_comic",
}


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _truth(book: Path) -> dict[str, Any]:
    return json.loads(book.with_name(book.name + ".truth.json").read_text(encoding="utf-8"))


def _all_truth(demo: DemoSummary) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, _truth(p)) for p in demo.book_paths]


def test_same_seed_gives_identical_files(demo: DemoSummary, tmp_path: Path) -> None:
    # regenerate into a half-written demo library (a killed run): it is replaced
    again = tmp_path / "again"
    (again / "amazon" / "Old Collection").mkdir(parents=True)
    (again / ".comix-demo-library").write_text("x")
    summary = generate_demo_library(again, seed=7)
    assert not (again / "amazon" / "Old Collection").exists()
    assert "total: 19 books, 178 pages" in summary.describe()
    first, second = _hashes(demo.out_dir), _hashes(again)
    assert first == second
    assert len(first) > 40


def test_other_seed_gives_other_pages() -> None:
    for plan in CATALOG[:2]:
        a = [p.data for p in render_book(plan, 7).pages]
        b = [p.data for p in render_book(plan, 8).pages]
        assert len(a) == len(b)
        assert all(x != y for x, y in zip(a, b, strict=True))


def test_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        generate_demo_library(tmp_path / "other")
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["keep.txt"]


def test_counts(demo: DemoSummary) -> None:
    assert set(demo.sources) == {"amazon", "darkhorse", "calibre"}
    for source in demo.sources.values():
        assert source.n_collections >= 2
        assert source.books == sum(source.collections.values())
        for path in source.book_paths:  # a file, an app download's folder, or loose pages
            assert path.exists() or all(
                (path.parent / name).is_file() for name in _truth(path)["page_files"]
            )
    assert (demo.total_books, demo.total_pages) == (19, 178)
    assert demo.sources["amazon"].collections == {
        "Star Runners": 3,
        "Night Harbor: Case Files": 2,
        "Loose Pages": 3,
    }
    assert demo.sources["darkhorse"].collections == {
        "Iron Orchid": 2,
        "Tales of the Deep Frontier": 2,
        "Dark Horse Digital": 2,
    }
    assert set(demo.sources["calibre"].collections) == {
        "Humble Bundle: Golden Age Sci-Fi",
        "DriveThruComics",
    }
    # a collection is a first-level folder; at least one book lies deeper
    for name in ("amazon", "darkhorse"):
        root = demo.sources[name].root
        folders = {p.relative_to(root).parts[0] for p in demo.sources[name].book_paths}
        assert folders == set(demo.sources[name].collections)
        assert any(len(p.relative_to(root).parts) > 2 for p in demo.sources[name].book_paths)
    suffixes = {p.suffix for p in demo.book_paths}
    assert suffixes == {".pdf", ".cbz", ".cb7", ".cbt", ""}  # "": app downloads, loose pages
    # pages in the summary count each book once, whatever its number of formats
    per_book: dict[tuple[str, str], int] = {}
    for _path, truth in _all_truth(demo):
        per_book[(truth["source"], truth["title"])] = len(truth["pages"])
    assert sum(per_book.values()) == demo.total_pages


def test_page_types_spreads_and_non_comic_pages(demo: DemoSummary) -> None:
    pages = [page for _, truth in _all_truth(demo) for page in truth["pages"]]
    assert {p["page_type"] for p in pages} == PAGE_TYPES
    non_comic = [p for p in pages if p["page_type"] == "non_comic"]
    assert non_comic and all(not p["is_comic"] for p in non_comic)
    assert all(p["is_comic"] for p in pages if p["page_type"] != "non_comic")
    spreads = [p for p in pages if p["is_spread"]]
    assert len(spreads) >= 3
    assert all((p["width"], p["height"]) == (1600, 1200) for p in spreads)
    assert all((p["width"], p["height"]) == (800, 1200) for p in pages if not p["is_spread"])
    # each book starts with a cover and ends its comic part with a back cover
    for _, truth in _all_truth(demo):
        types = [p["page_type"] for p in truth["pages"]]
        assert types[0] == "cover"
        comic = [t for t in types if t != "non_comic"]
        assert comic[-1] == "back_cover"
        assert "first-page" in types


def test_non_comic_kinds(demo: DemoSummary, read_pages: Any) -> None:
    """The pollution: dense text pages without panels, blank pages and near-black pages."""
    kinds = set()
    for path, truth in _all_truth(demo):
        images = read_pages(path)
        for page, data in zip(truth["pages"], images, strict=True):
            if page["page_type"] != "non_comic":
                continue
            assert page["panels"] == []
            mean = float(np.asarray(Image.open(io.BytesIO(data)).convert("L")).mean())
            if page["texts"]:
                assert len(page["texts"]) >= 15
                kinds.add("text")
            elif mean > 250:
                kinds.add("white")
            elif mean < 30:
                kinds.add("dark")
    assert kinds == {"text", "white", "dark"}


def _rect(box: list[int]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (x, y, x + w, y + h)


def _inside(inner: list[int], outer: list[int]) -> bool:
    a, b = _rect(inner), _rect(outer)
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def test_truth_geometry(demo: DemoSummary) -> None:
    borderless = 0
    for path, truth in _all_truth(demo):
        assert truth["book"] == path.name
        for i, page in enumerate(truth["pages"]):
            assert page["page_index"] == i
            page_box = [0, 0, page["width"], page["height"]]
            panels = page["panels"]
            assert sorted(p["order"] for p in panels) == list(range(len(panels)))
            borderless += sum(not p["bordered"] for p in panels)
            for a in panels:
                assert _inside(a["bbox"], page_box), (path, i, a)
                assert a["bbox"][2] > 50 and a["bbox"][3] > 50
            for j, a in enumerate(panels):
                for b in panels[j + 1 :]:
                    ra, rb = _rect(a["bbox"]), _rect(b["bbox"])
                    overlap = ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]
                    assert not overlap, (path, i, a, b)
            by_order = {p["order"]: p for p in panels}
            for text in page["texts"]:
                assert text["text"].strip()
                assert text["kind"] in {"dialogue", "narration", "sfx", "title", "body"}
                assert _inside(text["bbox"], page_box)
                if text["panel"] is not None:
                    assert _inside(text["bbox"], by_order[text["panel"]]["bbox"]), (path, i, text)
                if text["kind"] in {"dialogue", "narration", "sfx"}:
                    assert text["panel"] is not None
    assert borderless >= 3


def test_story_pages_have_real_text(demo: DemoSummary) -> None:
    kinds: dict[str, int] = {}
    for _, truth in _all_truth(demo):
        for page in truth["pages"]:
            if page["page_type"] in {"story", "first-page"}:
                assert page["panels"]
            for text in page["texts"]:
                kinds[text["kind"]] = kinds.get(text["kind"], 0) + 1
    assert kinds["dialogue"] > 100 and kinds["narration"] > 30 and kinds["sfx"] > 10


def test_rtl_books(demo: DemoSummary) -> None:
    rtl = [truth for _, truth in _all_truth(demo) if truth["reading_direction"] == "rtl"]
    # the manga edition (ComicInfo Manga) and the app download (manifest is_rtl)
    assert sorted(truth["format"] for truth in rtl) == ["app-tar", "cbt.gz"]
    for truth in rtl:
        # on a right-to-left page the first panel of a row lies right of the second
        found = False
        for page in truth["pages"]:
            panels = sorted(page["panels"], key=lambda p: p["order"])
            for a, b in itertools.pairwise(panels):
                same_row = abs(a["bbox"][1] - b["bbox"][1]) < 30
                if same_row:
                    assert a["bbox"][0] > b["bbox"][0]
                    found = True
        assert found, truth["title"]


def test_every_book_opens_at_truth_size(demo: DemoSummary, read_pages: Any) -> None:
    for path, truth in _all_truth(demo):
        images = read_pages(path)
        assert len(images) == len(truth["pages"])
        png = truth["format"] == "loose" and truth["page_files"][0].endswith(".png")
        for page, data in zip(truth["pages"], images, strict=True):
            assert data[:4] == b"\x89PNG" if png else data[:3] == b"\xff\xd8\xff"
            assert Image.open(io.BytesIO(data)).size == (page["width"], page["height"])


def test_cbz_has_comicinfo(demo: DemoSummary) -> None:
    cbzs = [p for p in demo.book_paths if p.suffix == ".cbz"]
    assert len(cbzs) >= 3
    for path in cbzs:
        truth = _truth(path)
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            names = zf.namelist()
            assert names[0] == "page_001.jpg"
            info = ElementTree.fromstring(zf.read("ComicInfo.xml"))
        assert info.findtext("Title") == truth["title"]
        assert info.findtext("Series") == truth["series"]
        assert info.findtext("Number") == truth["issue"]
        assert info.findtext("Publisher")
        assert info.findtext("Year", "").isdigit()
        assert int(info.findtext("PageCount", "0")) == len(truth["pages"])
        # <Pages> types every page as the platform writes its classes
        types = [(int(p.get("Image")), p.get("Type")) for p in info.iter("Page")]
        expected = [CLASS_TO_COMICINFO[page["page_type"]] for page in truth["pages"]]
        assert types == list(enumerate(expected))


def test_dark_horse_app_downloads(demo: DemoSummary) -> None:
    """A tar named by its id and the same layout unpacked: ids without extension as member
    names, a manifest that lists them in name order while sort_order says otherwise."""
    downloads = [(p, _truth(p)) for p in demo.sources["darkhorse"].book_paths]
    downloads = [(p, t) for p, t in downloads if t["format"].startswith("app-")]
    assert sorted(t["format"] for _, t in downloads) == ["app-folder", "app-tar"]
    for path, truth in downloads:
        if truth["format"] == "app-tar":
            assert path.name == truth["book_uuid"] and not path.suffix
            with tarfile.open(path) as tf:
                members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
        else:
            members = {p.name: p.read_bytes() for p in path.iterdir()}
        manifest = json.loads(members.pop("manifest.json"))
        assert manifest["book_uuid"] == truth["book_uuid"]
        assert manifest["title"] == truth["title"]
        assert manifest["is_rtl"] == (truth["reading_direction"] == "rtl")
        listed = [page["src_image"] for page in manifest["pages"]]
        by_order = [
            p["src_image"] for p in sorted(manifest["pages"], key=lambda p: p["sort_order"])
        ]
        assert listed == sorted(members) and by_order != listed
        assert all("." not in name for name in members)
        assert len(members) == len(truth["pages"])


def test_loose_pages_of_three_books_in_one_folder(demo: DemoSummary) -> None:
    books = [(p, _truth(p)) for p in demo.sources["amazon"].book_paths]
    loose = [(p, t) for p, t in books if t["format"] == "loose"]
    assert len(loose) == 3 and len({p.parent for p, _ in loose}) == 1
    folder = loose[0][0].parent
    images = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".json"))
    assert images == sorted(name for _, t in loose for name in t["page_files"])
    names = {t["page_files"][0] for _, t in loose}
    assert names == {
        "Comet Girl 001_Comet Girl 001 - p000.jpg.png",  # a converter's double extension
        "Moon_Patrol_1.jpg",  # <book>_<N>, unpadded
        "Sky Pirates 01.jpg",  # <book> <NN>
    }


def test_pdf_pages_hold_exactly_the_jpeg(demo: DemoSummary, read_pages: Any) -> None:
    pdfs = [p for p in demo.book_paths if p.suffix == ".pdf"]
    assert len(pdfs) >= 3
    for path in pdfs:
        truth = _truth(path)
        with pymupdf.open(path) as doc:
            assert doc.metadata["creationDate"].startswith("D:2024")
            for page, page_truth in zip(doc, truth["pages"], strict=True):
                # page size in points = image size in pixels
                assert (page.rect.width, page.rect.height) == (
                    page_truth["width"],
                    page_truth["height"],
                )
                (image,) = page.get_images(full=True)
                extracted = doc.extract_image(image[0])
                assert extracted["ext"] == "jpeg"
                assert (extracted["width"], extracted["height"]) == (
                    page_truth["width"],
                    page_truth["height"],
                )
    # the calibre book stored as CBZ and PDF holds the very same JPEG bytes in both
    twin = [
        p for p in demo.sources["calibre"].book_paths if p.stem.startswith("Captain Comet #001")
    ]
    assert {p.suffix for p in twin} == {".cbz", ".pdf"}
    cbz, pdf = sorted(twin, key=lambda p: p.suffix)
    assert read_pages(cbz) == read_pages(pdf)


def test_compressed_cbt_is_gzip(demo: DemoSummary) -> None:
    cbts = [p for p in demo.book_paths if p.suffix == ".cbt"]
    magic = {p.read_bytes()[:2] == b"\x1f\x8b" for p in cbts}
    assert magic == {True, False}
