"""Hostile inputs the limits bound: seconds and peak memory, against the unbounded way.

Run: ``comix bench bounded`` (or ``python -m comix_resources.benchmarks.bounded [WORKDIR]``).
Every measurement runs in a fresh process, so its peak resident memory is its own; "peak MB"
is that peak minus the process's memory after its imports, i.e. what the case itself cost.
Baselines run in the same invocation, interleaved with the bounded runs:

- 16-bit PNG bomb (12000 x 12000 RGBA, 1.1 MB): the page's path through the pipeline, i.e.
  extraction, then the decode and features page_quality computes. Baseline: the limits before
  issue 17 (150 M pixels, no decoded-bytes bound), which let the page through to the decoder.
  Also the largest 16-bit RGBA page the new limits admit, to show where memory now stops.
- 5,000-page blank PDF: the default limits refuse it in the books step (max_pages); with
  max_pages raised it is extracted, one-colour pages encoded once. Baseline: what extraction
  did before, a MuPDF render and PNG encode per page, timed on ``baseline_pages`` pages and
  scaled to 5,000 (said so in the row).
- A one-inch PDF page that draws a 60000 x 60000 image. Baseline: what extraction did before,
  taking the page's full-page image through MuPDF (which decodes all of it).
- The file hash re-check at extraction: a 200-page CBZ extracted with and without it.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

BLANK_PAGES = 5_000
OLD_LIMITS = {"max_pixels": 150_000_000, "max_decoded_bytes": 1 << 62}
# The largest 16-bit RGBA square under max_decoded_bytes (256 MiB / 8 bytes per pixel).
ADMITTED_16BIT_SIDE = 5_792


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# what one child process measures ---------------------------------------------------------
def _png_page(path: Path, limits: dict[str, int]) -> dict[str, Any]:
    """Extraction of the one-page book, then page_quality's decode and features if admitted."""
    from comix_resources.detection.files import load_image
    from comix_resources.pages import ExtractionLimits, iter_pages
    from comix_resources.quality import page_features

    settings = replace(ExtractionLimits(), **limits)
    before = _peak_mb()
    started = time.perf_counter()
    [page] = list(iter_pages(path, settings))
    if page.error is None:
        features = page_features(load_image(io.BytesIO(page.data or b"")), [], 0)
        outcome = f"admitted, decoded (ink {features['ink_coverage']:.2f})"
    else:
        outcome = f"refused: {page.error}"
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb() - before,
        "outcome": outcome,
    }


def _pdf_book(path: Path, limits: dict[str, int]) -> dict[str, Any]:
    from comix_resources.errors import BookError
    from comix_resources.pages import ExtractionLimits, iter_pages

    settings = replace(ExtractionLimits(), **limits)
    before = _peak_mb()
    started = time.perf_counter()
    try:
        pages = list(iter_pages(path, settings))
        errors = sorted({p.error for p in pages if p.error})
        outcome = f"{sum(p.error is None for p in pages)} pages ok" + (
            f"; refused: {errors[0]}" if errors else ""
        )
    except BookError as error:
        outcome = f"book refused: {error}"
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb() - before,
        "outcome": outcome,
    }


def _pdf_render(path: Path, pages: int) -> dict[str, Any]:
    """The old way: render and PNG-encode every page with MuPDF, nothing bounded."""
    import pymupdf

    before = _peak_mb()
    started = time.perf_counter()
    with pymupdf.open(path) as doc:
        total = doc.page_count
        count = min(pages, total)
        for index in range(count):
            doc[index].get_pixmap(dpi=150).tobytes("png")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds * total / count,
        "peak_mb": _peak_mb() - before,
        "outcome": f"{count} pages rendered in {seconds:.1f} s"
        + (f", scaled to {total}" if count < total else ""),
    }


def _full_page_image(path: Path, _: object) -> dict[str, Any]:
    """The old way for a page that is one image: take the image as MuPDF extracts it, which
    decodes it whole (and re-encodes it when it is not a JPEG)."""
    import pymupdf

    from comix_resources.pages.pdf import full_page_image_xref

    before = _peak_mb()
    started = time.perf_counter()
    with pymupdf.open(path) as doc:
        xref = full_page_image_xref(doc[0])
        try:
            image = doc.extract_image(xref) if xref is not None else {}
            outcome = f"extracted {image.get('width')}x{image.get('height')}"
        except Exception as error:  # MuPDF gives up on its own, after decoding
            outcome = f"MuPDF failed: {type(error).__name__}: {error}"
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb() - before,
        "outcome": outcome,
    }


def _extract(path: Path, with_hash: bool) -> dict[str, Any]:
    from comix_resources.ids import sha256_file
    from comix_resources.lake import Lake
    from comix_resources.page_store import extract_book
    from comix_resources.pages import ExtractionLimits

    sha = sha256_file(path)
    best = float("inf")
    for attempt in range(3):
        with tempfile.TemporaryDirectory(dir=path.parent) as out:
            lake = Lake(out)
            started = time.perf_counter()
            rows, _ = extract_book(
                lake,
                lake.path("pages"),
                f"b{attempt}",
                path,
                ExtractionLimits(),
                sha if with_hash else None,
            )
            best = min(best, time.perf_counter() - started)
    return {"seconds": best, "peak_mb": 0.0, "outcome": f"{len(rows)} pages (best of 3)"}


CHILDREN = {
    "png": _png_page,
    "pdf": _pdf_book,
    "render": _pdf_render,
    "image": _full_page_image,
    "extract": _extract,
}


def _child(kind: str, path: str, argument: str) -> None:
    # Everything any case uses is imported first: the figures are the case's, not imports'.
    import pymupdf  # noqa: F401

    import comix_resources.detection.files
    import comix_resources.page_store
    import comix_resources.pages.pdf
    import comix_resources.quality  # noqa: F401

    result = CHILDREN[kind](Path(path), json.loads(argument))
    print(json.dumps(result))


def _measure(kind: str, path: Path, argument: Any) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", __name__, "--child", kind, str(path), json.dumps(argument)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {
            "seconds": None,
            "peak_mb": None,
            "outcome": f"process failed ({done.returncode}): {tail}",
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


# the benchmark ----------------------------------------------------------------------------
def _files(work: Path) -> dict[str, Path]:
    import zipfile

    import numpy as np
    from PIL import Image

    from comix_resources.benchmarks.hostile_files import (
        png_of_zeros,
        write_blank_pdf,
        write_pdf_drawing_huge_image,
    )

    def one_page_cbz(name: str, data: bytes) -> Path:
        path = work / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("p1.png", data)
        return path

    files = {
        "bomb": one_page_cbz("png16-bomb.cbz", png_of_zeros(12_000, 12_000, 16, 6, 4)),
        "admitted": one_page_cbz(
            "png16-admitted.cbz", png_of_zeros(ADMITTED_16BIT_SIDE, ADMITTED_16BIT_SIDE, 16, 6, 4)
        ),
        "blank": work / "blank-5000.pdf",
        "huge": work / "huge-image-page.pdf",
        "cbz": work / "scans-200.cbz",
    }
    write_blank_pdf(files["blank"], BLANK_PAGES)
    write_pdf_drawing_huge_image(files["huge"])
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(files["cbz"], "w", zipfile.ZIP_STORED) as archive:
        for n in range(200):
            pixels = rng.integers(0, 256, (1800, 1200, 3), dtype=np.uint8)
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, "JPEG", quality=85)
            archive.writestr(f"p{n:03d}.jpg", out.getvalue())
    return files


def run_bounded_benchmark(work: Path, baseline_pages: int = 500) -> list[dict[str, Any]]:
    """Rows: case, variant, seconds, peak MB (above imports), ratio against the baseline."""
    from comix_resources.pages import ExtractionLimits

    files = _files(work)
    bomb = "16-bit PNG bomb 12000x12000 (1.1 MB)"
    side = ADMITTED_16BIT_SIDE
    blank = f"{BLANK_PAGES:,}-page blank PDF"
    huge = "1-inch page drawing 60000x60000"
    cbz = "200-page CBZ, extraction"
    plan = [
        (bomb, "before: 150 M pixels, no decoded bound", "png", files["bomb"], OLD_LIMITS),
        (bomb, "now: default limits", "png", files["bomb"], {}),
        (
            f"16-bit PNG {side}x{side} (largest admitted)",
            "now: default",
            "png",
            files["admitted"],
            {},
        ),
        (blank, "before: MuPDF render + PNG per page", "render", files["blank"], baseline_pages),
        (blank, "now: default limits", "pdf", files["blank"], {}),
        (blank, "now: max_pages 10000", "pdf", files["blank"], {"max_pages": 10_000}),
        (huge, "before: its full-page image extracted", "image", files["huge"], None),
        (huge, "now: default limits", "pdf", files["huge"], {}),
        (cbz, "without the hash re-check", "extract", files["cbz"], False),
        (cbz, "with the hash re-check", "extract", files["cbz"], True),
    ]
    rows: list[dict[str, Any]] = []
    baseline: dict[str, dict[str, Any]] = {}
    for case, variant, kind, path, argument in plan:
        measured = _measure(kind, path, argument)
        row = {"case": case, "variant": variant, **measured}
        first = baseline.setdefault(case, measured)
        if first is not measured and first["seconds"] and measured["seconds"] is not None:
            row["time_vs_first"] = measured["seconds"] / first["seconds"]
            if first["peak_mb"] and measured["peak_mb"] is not None:
                row["memory_vs_first"] = measured["peak_mb"] / max(first["peak_mb"], 1e-9)
        rows.append(row)
    rows.append({"case": "limits", "variant": json.dumps(asdict(ExtractionLimits()))})
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(*sys.argv[2:5])
        return
    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as work:
        for row in run_bounded_benchmark(Path(work)):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
