"""``comix bench pipeline``: pages per core of the per-page pipeline, before and after, with the
quality figures beside the speed.

Page sets, each put into a throwaway lake the way ingestion would (pages table and files):

- ``demo``: the demo library's pages (or ``demo_pages`` of them spread evenly, every page
  type), with its truth;
- ``science``: the real 1946 "Science Comics #1" (``real_archives/stump``), panels truth from
  ``real_pages/science_comics_001.truth.json`` and the lettering truth of
  ``science_comics_001.lettering.json`` beside this module (lines read by eye, only where
  certain);
- ``rust_book``: pages of a real 671-page programming book (PDF), all non-comic.

Each side runs ``pipeline_run.py`` in its own interpreter: ``before`` with the base commit's
``comix_resources`` (``git archive`` of ``--base`` into a temp folder) first on PYTHONPATH,
``after`` with this tree; sides alternate (before, after, before, ...) so that a machine shared
with others loads both alike. Speed is pages per CPU-second (a core's worth of work, all
processes counted, so it does not depend on how busy the machine is) for each stage and the
whole; wall-clock pages/s and the worker count are printed too.

Quality, scored the same way for both sides: text-line recall (a truth dialogue, narration or
sfx line whose predicted text, from the items inside its box, is >= 0.8 similar), character
error rate (Levenshtein edits over truth characters, case and spacing ignored, a missed line
counting all its characters), text in the right panel (``dataspec.evaluate_against_truth`` on
the demo truth) and non-comic precision and recall (``is_comic`` against the truth).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from comix_resources.benchmarks.metrics import binary_pr

BASE_COMMIT = "9122867"
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
SCIENCE_CBZ = FIXTURES / "real_archives" / "stump" / "science_comics_001.cbz"
SCIENCE_TRUTH = FIXTURES / "real_pages" / "science_comics_001.truth.json"
SCIENCE_LETTERING = Path(__file__).with_name("science_comics_001.lettering.json")
RUST_BOOK = FIXTURES / "real_archives" / "stump" / "rust_book.pdf"
STAGES = ("panels", "page_text", "page_quality", "dataspec")
TEXT_KINDS = ("dialogue", "narration", "sfx")
LINE_FOUND_SIMILARITY = 0.8


@dataclass
class BenchPage:
    page_id: str
    book_id: str
    page_index: int
    data: bytes
    ext: str
    width: int
    height: int
    is_comic: bool | None  # None: no truth
    texts: list[dict[str, Any]] = field(default_factory=list)  # truth lines, page pixels
    truth: dict[str, Any] | None = None  # demo truth page (panels, texts with panel)


def _spread(items: Sequence[Any], count: int) -> list[Any]:
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def demo_set(library: Path, count: int) -> tuple[list[BenchPage], dict[str, dict]]:
    """``count`` demo pages spread over the library (0: every page), and the truth by book."""
    from comix_resources.benchmarks.demo_pages import iter_demo_pages

    every = list(iter_demo_pages(library))
    chosen = _spread(every, count) if count else every
    pages = []
    for p in chosen:
        texts = [
            {**t, "bbox": p.scaled(t["bbox"])} for t in p.truth["texts"] if t["kind"] in TEXT_KINDS
        ]
        pages.append(
            BenchPage(
                p.page_id,
                p.book.book_id,
                p.page_index,
                p.data,
                p.ext,
                p.width,
                p.height,
                bool(p.truth["is_comic"]),
                texts,
                p.truth,
            )
        )
    return pages, {p.book.book_id: p.book.truth for p in chosen}


def science_set(count: int) -> list[BenchPage]:
    """Pages of the real 1946 comic: all comic pages; lettering truth where it was read."""
    from PIL import Image

    lettering = (
        json.loads(SCIENCE_LETTERING.read_text(encoding="utf-8"))["pages"]
        if SCIENCE_LETTERING.exists()
        else {}
    )
    with zipfile.ZipFile(SCIENCE_CBZ) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith((".jpg", ".jpeg")))
        with_truth = [n for n in names if n in lettering]
        chosen = with_truth + _spread([n for n in names if n not in lettering], count)
        chosen = sorted(chosen[: max(count, len(with_truth))])
        pages = []
        for name in chosen:
            data = archive.read(name)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
            index = names.index(name)
            pages.append(
                BenchPage(
                    f"science-{index:04d}",
                    "science",
                    index,
                    data,
                    "jpg",
                    width,
                    height,
                    True,  # covers, adverts and text stories count as comic pages
                    [t for t in lettering.get(name, {}).get("texts", [])],
                )
            )
    return pages


def rust_book_set(count: int) -> list[BenchPage]:
    """Pages spread over the programming book, rendered as ingestion renders a page without a
    full-page image (PNG at the extraction DPI); only the chosen pages are rendered."""
    import pymupdf

    from comix_resources.pages import ExtractionLimits

    dpi = ExtractionLimits().pdf_dpi
    pages = []
    with pymupdf.open(RUST_BOOK) as doc:
        for index in _spread(range(doc.page_count), count):
            pixmap = doc[index].get_pixmap(dpi=dpi)
            pages.append(
                BenchPage(
                    f"rust-{index:04d}",
                    "rust",
                    index,
                    pixmap.tobytes("png"),
                    "png",
                    pixmap.width,
                    pixmap.height,
                    False,
                )
            )
    return pages


def write_lake(root: Path, pages: Sequence[BenchPage]) -> None:
    """The pages as ingestion leaves them: files under the partition and ``pages.parquet``."""
    from comix_resources.benchmarks.pipeline_run import COLLECTION, SOURCE
    from comix_resources.ids import sha256_bytes
    from comix_resources.lake import Lake

    lake = Lake(str(root))
    rows = []
    for page in pages:
        relative = f"{SOURCE}/{COLLECTION}/pages/{page.book_id}/{page.page_index:04d}.{page.ext}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.data)
        rows.append(
            {
                "page_id": page.page_id,
                "book_id": page.book_id,
                "page_index": page.page_index,
                "path": relative,
                "format": page.ext,
                "width": page.width,
                "height": page.height,
                "bytes": len(page.data),
                "sha256": sha256_bytes(page.data),
                "status": "ok",
                "is_spread": page.width > page.height,
            }
        )
    lake.write_parquet(lake.partition_path(SOURCE, COLLECTION, "pages.parquet"), pl.DataFrame(rows))


def base_tree(repo: Path, commit: str, into: Path) -> Path:
    """The base commit's ``comix_resources`` unpacked into ``into`` (a PYTHONPATH entry)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "comix_resources"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_side(
    code: Path, lake: Path, out: Path, mode: str, workers: int, env: dict[str, str]
) -> dict[str, Any]:
    script = Path(__file__).with_name("pipeline_run.py")
    command = [sys.executable, str(script), str(lake), str(out), "--mode", mode]
    command += ["--workers", str(workers)]
    environment = {**env, "PYTHONPATH": str(code)}
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} side failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "timings.json").read_text(encoding="utf-8"))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _inside(box: Sequence[float], truth: Sequence[float]) -> float:
    ix = max(0.0, min(box[0] + box[2], truth[0] + truth[2]) - max(box[0], truth[0]))
    iy = max(0.0, min(box[1] + box[3], truth[1] + truth[3]) - max(box[1], truth[1]))
    return ix * iy / max(1.0, box[2] * box[3])


def text_scores(pages: Sequence[BenchPage], page_text: pl.DataFrame) -> dict[str, float | int]:
    """Text-line recall and character error rate against the truth lines (module docstring)."""
    from rapidfuzz.distance import Levenshtein

    items = {
        row["page_id"]: [i for i in (row["items"] or []) if i["bbox"]]
        for row in page_text.iter_rows(named=True)
    }
    lines = found = chars = edits = 0
    for page in pages:
        for truth in page.texts:
            inside = [
                i for i in items.get(page.page_id, []) if _inside(i["bbox"], truth["bbox"]) >= 0.5
            ]
            inside.sort(key=lambda i: (i["bbox"][1], i["bbox"][0]))
            got, want = _norm(" ".join(i["text"] for i in inside)), _norm(truth["text"])
            lines += 1
            chars += len(want)
            edits += Levenshtein.distance(got, want)
            found += Levenshtein.normalized_similarity(got, want) >= LINE_FOUND_SIMILARITY
    return {
        "text_lines": lines,
        "text_line_recall": found / lines if lines else float("nan"),
        "cer": edits / chars if chars else float("nan"),
    }


def score_side(
    pages: Sequence[BenchPage], out: Path, truth_by_book: dict[str, dict]
) -> dict[str, Any]:
    from comix_resources.dataspec import evaluate_against_truth

    page_text = pl.read_parquet(out / "page_text.parquet")
    quality = pl.read_parquet(out / "page_quality.parquet")
    scores: dict[str, Any] = text_scores(pages, page_text)
    verdict = dict(zip(quality["page_id"], quality["is_comic"], strict=True))
    judged = [p for p in pages if p.is_comic is not None and p.page_id in verdict]
    pr = binary_pr([not verdict[p.page_id] for p in judged], [not p.is_comic for p in judged])
    # precision needs a page called non-comic, recall a non-comic page: else "-" (no figure)
    scores.update(
        non_comic_precision=pr["precision"] if pr["tp"] + pr["fp"] else None,
        non_comic_recall=pr["recall"] if pr["tp"] + pr["fn"] else None,
    )
    scores["non_comic_counts"] = f"TP {pr['tp']} FP {pr['fp']} FN {pr['fn']}"
    if truth_by_book:
        dataspec = pl.read_parquet(out / "dataspec.parquet")
        frame = pl.DataFrame(
            [
                {"page_id": p.page_id, "book_id": p.book_id, "page_index": p.page_index}
                | {"width": p.width, "height": p.height}
                for p in pages
                if p.truth is not None
            ]
        )
        lines_truth = {
            book: {
                **truth,
                "pages": [
                    {**pg, "texts": [t for t in pg["texts"] if t["kind"] in TEXT_KINDS]}
                    for pg in truth["pages"]
                ],
            }
            for book, truth in truth_by_book.items()
        }
        result = evaluate_against_truth(dataspec, frame, lines_truth)
        scores["text_in_right_panel"] = result["text_panel_accuracy"]
    return scores


def run_pipeline_benchmark(
    library: Path | None = None,
    demo_pages: int = 24,
    science_pages: int = 12,
    rust_pages: int = 12,
    rounds: int = 1,
    workers: Sequence[int] = (1,),
    base: str = BASE_COMMIT,
    repo: Path | None = None,
) -> dict[str, Any]:
    """Before and after on each page set; see the module docstring."""
    repo = repo or Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="comix-bench-pipeline-") as folder:
        scratch = Path(folder)
        if library is None:
            from comix_resources.demo import generate_demo_library

            library = scratch / "demo"
            generate_demo_library(library, seed=7)
        sets: dict[str, tuple[list[BenchPage], dict[str, dict]]] = {}
        if demo_pages >= 0:
            sets["demo"] = demo_set(Path(library), demo_pages)
        if science_pages and SCIENCE_CBZ.exists():
            sets["science"] = (science_set(science_pages), {})
        if rust_pages and RUST_BOOK.exists():
            sets["rust_book"] = (rust_book_set(rust_pages), {})
        before_code = base_tree(repo, base, scratch / "base")
        after_code = Path(__file__).resolve().parents[2]
        # each side starts with a cold HOME-free environment and the same thread settings
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["ORT_DISABLE_TELEMETRY"] = "1"
        report: dict[str, Any] = {
            "benchmark": "pipeline",
            "base": base,
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
            "sets": {},
        }
        for name, (pages, truth) in sets.items():
            lake = scratch / f"lake-{name}"
            write_lake(lake, pages)
            runs: dict[str, list[dict[str, Any]]] = {}
            for round_ in range(rounds):
                plan = [("before", 1)] + [("after", w) for w in workers]
                for mode, count in plan:
                    label = mode if mode == "before" else f"after, {count} worker(s)"
                    out = scratch / f"out-{name}-{mode}-{count}-{round_}"
                    code = before_code if mode == "before" else after_code
                    timing = run_side(code, lake, out, mode, count, env)
                    timing["quality"] = score_side(pages, out, truth)
                    runs.setdefault(label, []).append(timing)
            report["sets"][name] = {"pages": len(pages), "runs": runs}
        report["load_after"] = os.getloadavg()
        return report


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def format_pipeline_report(report: dict[str, Any]) -> str:
    """Per page set: pages per CPU-second by stage and in all, before and after, the ratio,
    wall-clock pages/s, and the quality figures of each side."""
    lines = [
        f"comix bench pipeline: base {report['base']} vs this tree, {report['cpus']} cores, "
        f"load {report['load_before'][0]:.1f} -> {report['load_after'][0]:.1f} "
        "(a shared machine: CPU-seconds, not wall time, carry the comparison)",
    ]
    for name, result in report["sets"].items():
        n = result["pages"]
        lines += ["", f"## {name} ({n} pages)"]
        header = ["side"] + [f"{s} p/cpu-s" for s in STAGES] + ["whole p/cpu-s", "wall p/s"]
        rows = []
        speed: dict[str, dict[str, float]] = {}
        for label, runs in result["runs"].items():
            per_stage = {s: n / _mean([r["stages"][s]["cpu_s"] for r in runs]) for s in STAGES}
            whole_cpu = _mean([sum(r["stages"][s]["cpu_s"] for s in STAGES) for r in runs])
            whole_wall = _mean([sum(r["stages"][s]["wall_s"] for s in STAGES) for r in runs])
            speed[label] = {**per_stage, "whole": n / whole_cpu}
            rows.append(
                [label]
                + [f"{per_stage[s]:.2f}" for s in STAGES]
                + [f"{n / whole_cpu:.2f}", f"{n / whole_wall:.2f}"]
            )
        before = speed.get("before")
        if before:
            for label, figures in speed.items():
                if label == "before":
                    continue
                rows.append(
                    [f"ratio {label} / before"]
                    + [f"{figures[s] / before[s]:.2f}x" for s in STAGES]
                    + [f"{figures['whole'] / before['whole']:.2f}x", ""]
                )
        lines.append(_table(header, rows))
        quality_rows = []
        for label, runs in result["runs"].items():
            q = runs[-1]["quality"]
            extra = runs[-1].get("triage")
            quality_rows.append(
                [
                    label,
                    f"{q['text_lines']}",
                    _fmt(q["text_line_recall"]),
                    _fmt(q["cer"]),
                    _fmt(q.get("text_in_right_panel")),
                    _fmt(q["non_comic_precision"]),
                    _fmt(q["non_comic_recall"]),
                    q["non_comic_counts"],
                    json.dumps(extra) if extra else "",
                    _workers_note(runs[-1]),
                ]
            )
        lines.append(
            _table(
                [
                    "side",
                    "truth lines",
                    "line recall",
                    "CER",
                    "text->panel",
                    "non-comic P",
                    "non-comic R",
                    "counts",
                    "triage",
                    "workers / peak RSS",
                ],
                quality_rows,
            )
        )
    return "\n".join(lines)


def _workers_note(run: dict[str, Any]) -> str:
    workers = run.get("workers")
    main = f"main {run['peak_rss_mb_main']:.0f} MB"
    if not workers:
        return main
    return f"{workers['workers']} x {workers['peak_rss_mb_per_worker']:.0f} MB; {main}"


def _fmt(value: float | None) -> str:
    if value is None or value != value:  # None or NaN: no truth for it
        return "-"
    return f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)
