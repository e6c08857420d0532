"""The demo library: what books exist, and ``generate_demo_library`` that writes them.

``out_dir/amazon`` and ``out_dir/darkhorse`` are folder trees (a collection is a first-level
folder, books lie below it at any depth); ``out_dir/calibre`` is a Calibre library. Beside
every book file lies ``<book file name>.truth.json`` with the ground truth of every page.
The catalogue (sources, collections, books, page types) is fixed; the seed drives layouts,
art and text, so the same seed gives byte-identical files and another seed other files.
Each book has a house style drawn from the seed (``style.book_style``: paper, palette, cast,
lettering, vocabulary) that all of its pages share, so pages tell which book they are from.

Ground truth (``<book file name>.truth.json``)::

    {"book": file name, "source", "collection", "title", "series", "issue",
     "format": "pdf" | "cbz" | "cb7" | "cbt" | "cbt.gz" | "app-tar" | "app-folder" | "loose",
     "page_files": the page files of a "loose" book (in its folder), in page order,
     "book_uuid": an app download's id,
     "reading_direction": "ltr" | "rtl",
     "pdf_points_per_pixel": 1.0 for PDFs (page size in points = image size), else null,
     "pages": [{"page_index": 0-based extraction order, "page_type", "is_comic",
                "width", "height", "is_spread",
                "panels": [{"bbox": [x, y, w, h], "order": reading order, "bordered"}],
                "texts": [{"text", "kind", "panel": order of its panel or null,
                           "bbox": [x, y, w, h] tight around the ink}]}]}

Besides comic files the library holds the layouts owners keep: a Dark Horse app download
(``app-tar``: a tar named by its id, without extension; ``app-folder``: the same unpacked into
a folder), each paged by its ``manifest.json`` (``sort_order``; ids as member names), and a
folder of loose pages of several books (``loose``: ``<book>.truth.json`` beside the pages,
whose names follow the plan's ``loose_name``). Every CBZ, CB7 and CBT carries a ComicInfo.xml
whose ``<Pages>`` types its pages from the truth (``page_classes.CLASS_TO_COMICINFO``).

``page_type`` is one of cover, credits, first-page, story, advertisement, textstory, art,
back_cover, non_comic. Text ``kind`` is dialogue, narration or sfx inside panels, and title
or body for text outside panels (logos, credits, prose, advertisement copy, book text).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from comix_resources.demo import corpus, drawing, style
from comix_resources.demo.calibre import CalibreBook, write_calibre_library
from comix_resources.demo.writers import (
    BookMeta,
    EncodedPage,
    app_download_members,
    app_tar_bytes,
    atomic_write,
    book_bytes,
    extension,
    loose_page_bytes,
    write_folder,
)
from comix_resources.sources.registry import SOURCES

if TYPE_CHECKING:
    from comix_resources.pages import PageImage

SUMMARY_FILE = "demo_summary.json"
MARKER_FILE = ".comix-demo-library"
JPEG_QUALITY = 85
_NUMBER_LIST = re.compile(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]")

# page plan tokens -> (page_type, renderer kind)
PAGE_TOKENS = {
    "cover",
    "credits",
    "first-page",
    "story",
    "spread",
    "advertisement",
    "textstory",
    "art",
    "back_cover",
    "nc-text",
    "nc-white",
    "nc-dark",
}


def _plan(spec: str) -> tuple[str, ...]:
    """``"cover story*3 back_cover"`` -> ``("cover", "story", "story", "story", "back_cover")``."""
    out: list[str] = []
    for item in spec.split():
        token, _, count = item.partition("*")
        if token not in PAGE_TOKENS:
            raise ValueError(f"unknown page token {token!r}")
        out += [token] * int(count or 1)
    return tuple(out)


@dataclass(frozen=True)
class BookPlan:
    key: str  # unique; seeds the book's random generators
    source: str
    collection: str  # first-level folder, or the calibre tag
    title: str
    series: str
    issue: str
    year: int
    publisher: str
    writer: str
    artist: str
    pages: tuple[str, ...]
    # pdf, cbz, cb7, cbt, cbt.gz, app-tar, app-folder, loose; calibre books may have several
    formats: tuple[str, ...]
    subdir: str = ""  # folder sources: subfolder below the collection folder
    rtl: bool = False
    co_authors: tuple[str, ...] = ()  # calibre: more authors after the writer
    identifiers: tuple[tuple[str, str], ...] = ()
    # loose: the book's name (what the page-name pattern reads) and its pages' file names,
    # with {n} the 0-based page index and {n1} the 1-based one
    loose_book: str = ""
    loose_name: str = ""

    @property
    def file_stem(self) -> str:
        return f"{self.series} {self.issue.zfill(3)}" if self.source != "calibre" else self.title

    @property
    def book_uuid(self) -> str:
        """An app download's id (its file name, without extension)."""
        return hashlib.sha256(f"{self.key}:uuid".encode()).hexdigest()[:32]


CATALOG: tuple[BookPlan, ...] = (
    # --- amazon (Comixology-style folder tree) ---
    BookPlan(
        key="sr1",
        source="amazon",
        collection="Star Runners",
        title="Star Runners #1",
        series="Star Runners",
        issue="1",
        year=2022,
        publisher="Starlane Comics",
        writer="Ellen Marsh",
        artist="Tom Okafor",
        pages=_plan("cover credits first-page story*5 advertisement back_cover"),
        formats=("cbz",),
    ),
    BookPlan(
        key="sr2",
        source="amazon",
        collection="Star Runners",
        title="Star Runners #2",
        series="Star Runners",
        issue="2",
        year=2022,
        publisher="Starlane Comics",
        writer="Ellen Marsh",
        artist="Tom Okafor",
        pages=_plan("cover first-page story*4 spread story advertisement textstory back_cover"),
        formats=("pdf",),
    ),
    BookPlan(
        key="sra",
        source="amazon",
        collection="Star Runners",
        title="Star Runners Annual 2023",
        series="Star Runners Annual",
        issue="2023",
        year=2023,
        publisher="Starlane Comics",
        writer="Rita Vasquez",
        artist="Jun Park",
        pages=_plan("cover credits first-page story*4 art story*2 back_cover"),
        formats=("cb7",),
        subdir="Annuals",
    ),
    BookPlan(
        key="nh1",
        source="amazon",
        collection="Night Harbor: Case Files",
        title="Night Harbor #1",
        series="Night Harbor",
        issue="1",
        year=2021,
        publisher="Lighthouse Press",
        writer="Sam Lindqvist",
        artist="Carla Mendes",
        pages=_plan("cover credits first-page story*5 textstory advertisement back_cover"),
        formats=("cbt",),
    ),
    BookPlan(
        key="nh2",
        source="amazon",
        collection="Night Harbor: Case Files",
        title="Night Harbor #2",
        series="Night Harbor",
        issue="2",
        year=2021,
        publisher="Lighthouse Press",
        writer="Sam Lindqvist",
        artist="Carla Mendes",
        pages=_plan("cover first-page story*5 advertisement back_cover nc-text*2 nc-white nc-dark"),
        formats=("cbz",),
    ),
    # --- darkhorse ---
    BookPlan(
        key="io1",
        source="darkhorse",
        collection="Iron Orchid",
        title="Iron Orchid #1",
        series="Iron Orchid",
        issue="1",
        year=2019,
        publisher="Dark Horse Comics",
        writer="Victor Hale",
        artist="Nadia Brooks",
        pages=_plan("cover credits first-page story*5 advertisement back_cover"),
        formats=("pdf",),
    ),
    BookPlan(
        key="io2",
        source="darkhorse",
        collection="Iron Orchid",
        title="Iron Orchid #2",
        series="Iron Orchid",
        issue="2",
        year=2019,
        publisher="Dark Horse Comics",
        writer="Victor Hale",
        artist="Nadia Brooks",
        pages=_plan("cover first-page story*3 spread story*2 art back_cover"),
        formats=("cb7",),
    ),
    BookPlan(
        key="df1",
        source="darkhorse",
        collection="Tales of the Deep Frontier",
        title="Tales of the Deep Frontier #1",
        series="Tales of the Deep Frontier",
        issue="1",
        year=2020,
        publisher="Dark Horse Comics",
        writer="Jun Park",
        artist="Rita Vasquez",
        pages=_plan("cover credits first-page story*5 textstory back_cover"),
        formats=("cbz",),
        subdir="Volume 1",
    ),
    BookPlan(
        key="df2",
        source="darkhorse",
        collection="Tales of the Deep Frontier",
        title="Tales of the Deep Frontier #2 (Manga Edition)",
        series="Tales of the Deep Frontier",
        issue="2",
        year=2020,
        publisher="Dark Horse Comics",
        writer="Jun Park",
        artist="Rita Vasquez",
        pages=_plan("cover first-page story*5 advertisement back_cover nc-dark nc-white"),
        formats=("cbt.gz",),
        subdir="Volume 1",
        rtl=True,
    ),
    # --- calibre (collections by tag; series and publishers give other groupings) ---
    BookPlan(
        key="cc1",
        source="calibre",
        collection="Humble Bundle: Golden Age Sci-Fi",
        title="Captain Comet #001",
        series="Captain Comet",
        issue="1",
        year=1952,
        publisher="Starlight Press",
        writer="Ellen Marsh",
        artist="Victor Hale",
        pages=_plan("cover credits first-page story*5 advertisement textstory back_cover"),
        formats=("cbz", "pdf"),
        identifiers=(("comicvine", "4000-101"),),
    ),
    BookPlan(
        key="cc2",
        source="calibre",
        collection="Humble Bundle: Golden Age Sci-Fi",
        title="Captain Comet #002",
        series="Captain Comet",
        issue="2",
        year=1952,
        publisher="Starlight Press",
        writer="Ellen Marsh",
        artist="Victor Hale",
        pages=_plan("cover first-page story*4 spread story advertisement back_cover"),
        formats=("cb7",),
        identifiers=(("comicvine", "4000-102"),),
    ),
    BookPlan(
        key="rr1",
        source="calibre",
        collection="Humble Bundle: Golden Age Sci-Fi",
        title="Rocket Rangers Annual",
        series="Rocket Rangers",
        issue="1",
        year=1954,
        publisher="Starlight Press",
        writer="Victor Hale",
        artist="Tom Okafor",
        pages=_plan("cover first-page story*4 art back_cover nc-text*2"),
        formats=("pdf",),
    ),
    BookPlan(
        key="lk1",
        source="calibre",
        collection="DriveThruComics",
        title="The Lantern Keepers 1",
        series="Lantern Keepers",
        issue="1",
        year=2018,
        publisher="Indie Ink Comics",
        writer="Jun Park",
        artist="Carla Mendes",
        pages=_plan("cover credits first-page story*5 back_cover"),
        formats=("pdf",),
        co_authors=("Nadia Brooks",),
        identifiers=(("drivethrucomics", "270001"),),
    ),
    BookPlan(
        key="pm1",
        source="calibre",
        collection="DriveThruComics",
        title="Paper Moon Detective",
        series="Paper Moon",
        issue="1",
        year=2017,
        publisher="Indie Ink Comics",
        writer="Carla Mendes",
        artist="Sam Lindqvist",
        pages=_plan("cover first-page story*5 advertisement textstory back_cover"),
        formats=("cbt",),
        identifiers=(("drivethrucomics", "270002"),),
    ),
    # --- Dark Horse app downloads: a tar named by its id, and one unpacked into a folder ---
    BookPlan(
        key="hb1",
        source="darkhorse",
        collection="Dark Horse Digital",
        title="Hollow Bells #1",
        series="Hollow Bells",
        issue="1",
        year=2016,
        publisher="Dark Horse Comics",
        writer="Nadia Brooks",
        artist="Jun Park",
        pages=_plan("cover first-page story*4 advertisement back_cover"),
        formats=("app-tar",),
        rtl=True,
    ),
    BookPlan(
        key="hb2",
        source="darkhorse",
        collection="Dark Horse Digital",
        title="Hollow Bells #2",
        series="Hollow Bells",
        issue="2",
        year=2016,
        publisher="Dark Horse Comics",
        writer="Nadia Brooks",
        artist="Jun Park",
        pages=_plan("cover first-page story*2 spread back_cover"),
        formats=("app-folder",),
    ),
    # --- loose pages of three books in one folder, named three ways ---
    BookPlan(
        key="cg1",
        source="amazon",
        collection="Loose Pages",
        title="Comet Girl #1",
        series="Comet Girl",
        issue="1",
        year=2015,
        publisher="Starlane Comics",
        writer="Rita Vasquez",
        artist="Tom Okafor",
        pages=_plan("cover first-page story*2 back_cover"),
        formats=("loose",),
        loose_book="Comet Girl 001_Comet Girl 001",
        loose_name="Comet Girl 001_Comet Girl 001 - p{n:03d}.jpg.png",
    ),
    BookPlan(
        key="mp1",
        source="amazon",
        collection="Loose Pages",
        title="Moon Patrol #1",
        series="Moon Patrol",
        issue="1",
        year=2014,
        publisher="Lighthouse Press",
        writer="Sam Lindqvist",
        artist="Victor Hale",
        pages=_plan("cover first-page story*2 advertisement back_cover"),
        formats=("loose",),
        loose_book="Moon_Patrol",
        loose_name="Moon_Patrol_{n1}.jpg",
    ),
    BookPlan(
        key="sp1",
        source="amazon",
        collection="Loose Pages",
        title="Sky Pirates #1",
        series="Sky Pirates",
        issue="1",
        year=2013,
        publisher="Lighthouse Press",
        writer="Ellen Marsh",
        artist="Carla Mendes",
        pages=_plan("cover credits first-page story*2 back_cover"),
        formats=("loose",),
        loose_book="Sky Pirates",
        loose_name="Sky Pirates {n1:02d}.jpg",
    ),
)


@dataclass(frozen=True)
class SourceSummary:
    source: str
    root: Path
    collections: dict[str, int]  # collection name -> number of books
    books: int
    pages: int  # pages per book, counted once per book (not per format)
    # every book file or folder (a calibre book may have two formats); loose pages: the
    # book's name in their folder (its truth's ``page_files`` are the files)
    book_paths: tuple[Path, ...]

    @property
    def n_collections(self) -> int:
        return len(self.collections)


@dataclass(frozen=True)
class DemoSummary:
    out_dir: Path
    seed: int
    sources: dict[str, SourceSummary] = field(default_factory=dict)

    @property
    def total_books(self) -> int:
        return sum(s.books for s in self.sources.values())

    @property
    def total_pages(self) -> int:
        return sum(s.pages for s in self.sources.values())

    @property
    def book_paths(self) -> list[Path]:
        return [p for s in self.sources.values() for p in s.book_paths]

    def describe(self) -> str:
        """A few lines for people: per source, collections with book counts, and pages."""
        lines = [f"demo library {self.out_dir} (seed {self.seed})"]
        for s in self.sources.values():
            lines.append(f"  {s.source}: {s.books} books, {s.pages} pages in {s.root}")
            lines += [f"    {name}: {count} books" for name, count in s.collections.items()]
        lines.append(f"  total: {self.total_books} books, {self.total_pages} pages")
        return "\n".join(lines)

    def __rich__(self) -> str:
        return self.describe()

    def to_json(self) -> dict[str, Any]:
        """Paths relative to ``out_dir`` so the file is the same wherever it is written."""
        return {
            "seed": self.seed,
            "total_books": self.total_books,
            "total_pages": self.total_pages,
            "sources": {
                name: {
                    "root": s.root.relative_to(self.out_dir).as_posix(),
                    "collections": s.collections,
                    "books": s.books,
                    "pages": s.pages,
                    "book_paths": [p.relative_to(self.out_dir).as_posix() for p in s.book_paths],
                }
                for name, s in self.sources.items()
            },
        }


@dataclass
class RenderedBook:
    plan: BookPlan
    pages: list[EncodedPage]
    truth_pages: list[dict[str, Any]]

    def meta(self) -> BookMeta:
        p = self.plan
        return BookMeta(
            p.title,
            p.series,
            p.issue,
            p.publisher,
            p.year,
            p.writer,
            p.artist,
            summary=f"{p.title}: a synthetic comic of the CoMix demo library.",
            manga=p.rtl,
        )

    def truth(self, file_name: str, fmt: str) -> dict[str, Any]:
        p = self.plan
        return {
            "book": file_name,
            "source": p.source,
            "collection": p.collection,
            "title": p.title,
            "series": p.series,
            "issue": p.issue,
            "format": fmt,
            "reading_direction": "rtl" if p.rtl else "ltr",
            "pdf_points_per_pixel": 1.0 if fmt == "pdf" else None,
            "pages": self.truth_pages,
        }


def _seed_int(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def _book_hue(plan: BookPlan, seed: int) -> float:
    """The colour cast of a catalogue book: a seeded start on the colour wheel, then
    golden-ratio steps, so that no two books of the library share a cast."""
    offset = _seed_int(seed, "hue") / 2**64
    if plan in CATALOG:
        return style.library_hue(offset, CATALOG.index(plan))
    return _seed_int(seed, plan.key + ":hue") / 2**64


def render_book(plan: BookPlan, seed: int) -> RenderedBook:
    rng = random.Random(_seed_int(seed, plan.key))
    nprng = np.random.default_rng(_seed_int(seed, plan.key + ":noise"))
    # The style has a generator of its own, so it does not depend on the pages drawn.
    book_style = style.book_style(
        random.Random(_seed_int(seed, plan.key + ":style")), _book_hue(plan, seed)
    )
    info = drawing.BookInfo(
        title=plan.title,
        series=plan.series,
        issue=plan.issue,
        publisher=plan.publisher,
        year=plan.year,
        writer=plan.writer,
        artist=plan.artist,
        style=book_style,
        rtl=plan.rtl,
    )
    story_title = corpus.story_title(rng, book_style.vocabulary)
    renderers: dict[str, Callable[[], drawing.RenderedPage]] = {
        "cover": lambda: drawing.render_cover(rng, nprng, info, story_title),
        "credits": lambda: drawing.render_credits(rng, nprng, info, story_title),
        "first-page": lambda: drawing.render_first_page(rng, nprng, info, story_title),
        "story": lambda: drawing.render_story(rng, nprng, info),
        "spread": lambda: drawing.render_story(rng, nprng, info, spread=True),
        "advertisement": lambda: drawing.render_advertisement(rng, nprng),
        "textstory": lambda: drawing.render_textstory(rng, nprng, info),
        "art": lambda: drawing.render_art(rng, nprng, info),
        "back_cover": lambda: drawing.render_back_cover(rng, nprng, info),
        "nc-text": lambda: drawing.render_non_comic(rng, nprng, "text"),
        "nc-white": lambda: drawing.render_non_comic(rng, nprng, "white"),
        "nc-dark": lambda: drawing.render_non_comic(rng, nprng, "dark"),
    }
    pages: list[EncodedPage] = []
    truths: list[dict[str, Any]] = []
    for index, token in enumerate(plan.pages):
        page = renderers[token]()
        buf = io.BytesIO()
        page.image.save(buf, "JPEG", quality=JPEG_QUALITY)
        pages.append(
            EncodedPage(
                f"page_{index + 1:03d}.jpg",
                buf.getvalue(),
                page.image.width,
                page.image.height,
                page.page_type,
                page.is_spread,
            )
        )
        truths.append(page.truth(index))
    return RenderedBook(plan, pages, truths)


def _write_truth(book_path: Path, truth: dict[str, Any]) -> None:
    text = json.dumps(truth, indent=1, ensure_ascii=False) + "\n"
    # keep number lists (bounding boxes) on one line
    text = _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    atomic_write(book_path.with_name(book_path.name + ".truth.json"), text.encode("utf-8"))


def _prepare(out_dir: Path) -> None:
    """Check that ``out_dir`` may be written, clear an older demo library, mark the folder.

    The marker is written first, so a run that was killed half-way can be run again.
    """
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER_FILE).exists():
            raise FileExistsError(
                f"{out_dir} is not empty and holds no demo library; choose an empty folder"
            )
        for name in SOURCES:
            shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_FILE).write_text("written by comix_resources.demo\n", encoding="utf-8")


def generate_demo_library(out_dir: Path, seed: int = 7) -> DemoSummary:
    """Write the demo library under ``out_dir`` and return what was written.

    ``out_dir`` must be empty, missing, or a previous demo library (then its three source
    folders are replaced).
    """
    out_dir = Path(out_dir).resolve()
    _prepare(out_dir)
    collections: dict[str, dict[str, int]] = {s: {} for s in SOURCES}
    pages: dict[str, int] = dict.fromkeys(SOURCES, 0)
    paths: dict[str, list[Path]] = {s: [] for s in SOURCES}
    calibre_books: list[CalibreBook] = []
    calibre_rendered: list[RenderedBook] = []
    for plan in CATALOG:
        book = render_book(plan, seed)
        collections[plan.source][plan.collection] = (
            collections[plan.source].get(plan.collection, 0) + 1
        )
        pages[plan.source] += len(book.pages)
        if plan.source == "calibre":
            calibre_rendered.append(book)
            calibre_books.append(_calibre_book(book))
            continue
        folder = out_dir / plan.source / plan.collection / plan.subdir
        for fmt in plan.formats:
            path, extra = _write_book(folder, book, fmt)
            _write_truth(path, {**book.truth(path.name, fmt), **extra})
            paths[plan.source].append(path)
    written = write_calibre_library(out_dir / "calibre", calibre_books, seed)
    for book, entry in zip(calibre_rendered, written, strict=True):
        for fmt, path in entry.files.items():
            _write_truth(path, book.truth(path.name, fmt.lower()))
            paths["calibre"].append(path)
    summary = DemoSummary(
        out_dir,
        seed,
        {
            s: SourceSummary(
                s,
                out_dir / s,
                collections[s],
                sum(collections[s].values()),
                pages[s],
                tuple(paths[s]),
            )
            for s in SOURCES
        },
    )
    atomic_write(
        out_dir / SUMMARY_FILE, (json.dumps(summary.to_json(), indent=1) + "\n").encode("utf-8")
    )
    return summary


def _write_book(folder: Path, book: RenderedBook, fmt: str) -> tuple[Path, dict[str, Any]]:
    """Write one book of a folder source; its path (for loose pages, the book's name in their
    folder) and what its truth adds."""
    plan = book.plan
    if fmt in ("app-tar", "app-folder"):
        members = app_download_members(plan.key, plan.book_uuid, plan.title, plan.rtl, book.pages)
        if fmt == "app-tar":
            path = folder / plan.book_uuid  # as the browser saved it: the id, no extension
            atomic_write(path, app_tar_bytes(members))
        else:
            path = folder / plan.file_stem
            write_folder(path, members)
        return path, {"book_uuid": plan.book_uuid}
    if fmt == "loose":
        names = [plan.loose_name.format(n=index, n1=index + 1) for index in range(len(book.pages))]
        for name, page in zip(names, book.pages, strict=True):
            atomic_write(folder / name, loose_page_bytes(page, name))
        return folder / plan.loose_book, {"page_files": names}
    path = folder / f"{plan.file_stem}{extension(fmt)}"
    atomic_write(path, book_bytes(fmt, book.meta(), book.pages))
    return path, {}


def _calibre_book(book: RenderedBook) -> CalibreBook:
    plan = book.plan
    return CalibreBook(
        title=plan.title,
        authors=[plan.writer, *plan.co_authors],
        tags=[plan.collection],
        series=plan.series,
        series_index=float(plan.issue),
        publisher=plan.publisher,
        pubdate=f"{plan.year}-03-01",
        comments=f"<p>{plan.title}, a synthetic comic of the CoMix demo library.</p>",
        formats={fmt.upper(): book_bytes(fmt, book.meta(), book.pages) for fmt in plan.formats},
        cover=book.pages[0].data,
        identifiers=dict(plan.identifiers),
    )


def demo_truth_books(library: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(book file, truth)`` of every book of a demo library; a Calibre book stored in several
    formats is taken once (its pages are the same)."""
    seen: set[tuple[str, str]] = set()
    for truth_path in sorted(Path(library).rglob("*.truth.json")):
        truth = json.loads(truth_path.read_text())
        key = (truth["source"], truth["title"])
        if key in seen:
            continue
        seen.add(key)
        yield truth_path.with_name(truth_path.name.removesuffix(".truth.json")), truth


def demo_book_id(book_path: Path, truth: dict[str, Any]) -> str:
    """The ``book_id`` the pipeline gives a demo book (from its bytes; a group of loose pages
    from its pages' digests)."""
    from comix_resources.fingerprints import book_sha256
    from comix_resources.ids import book_id_from_sha256

    return book_id_from_sha256(book_sha256(book_path, truth.get("page_files", ())))


def demo_book_pages(book_path: Path, truth: dict[str, Any]) -> Iterator[PageImage]:
    """The pages of a demo book as the page reader gives them (``pages.iter_pages``)."""
    from comix_resources.pages import iter_pages

    return iter_pages(book_path, page_files=truth.get("page_files", ()))
