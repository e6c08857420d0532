"""Pages per second of the per-page engines, on this machine as it is (load recorded).

Measured: the contour detector on demo pages and on 2000x3000 synthetic scans (with one
OpenCV thread, the setting of Kumiko's published figure, and with every core), RapidOCR through
``OcrEngine``, the Faster R-CNN detector with a randomly initialised checkpoint (speed only: its
boxes mean nothing) and the whole per-page pipeline (decode, contour, OCR, quality, DataSpec
row). Warm-up pages and model loading are timed apart, in ``setup_s``.

The only baseline is Kumiko's 0.59 s per 2000x3000 page on one core, a constant quoted by the
issue (not measured here); the ratio printed is that figure over ours.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.benchmarks.demo_pages import DemoPage, iter_demo_pages

# From the issue, not measured: Kumiko's speed on a 2000x3000 page, one core.
KUMIKO_S_PER_PAGE = 0.59


def _spread(pages: Sequence[DemoPage], count: int) -> list[DemoPage]:
    """``count`` pages spread evenly over the library, so every page type is represented."""
    if count >= len(pages):
        return list(pages)
    step = len(pages) / count
    return [pages[int(i * step)] for i in range(count)]


def _time(fn: Callable[[Any], Any], items: Sequence[Any], repeats: int = 1) -> float:
    """Seconds per item of ``fn`` over ``items``, mean of ``repeats`` passes."""
    started = time.perf_counter()
    for _ in range(repeats):
        for item in items:
            fn(item)
    return (time.perf_counter() - started) / (repeats * max(1, len(items)))


def _row(name: str, pages: int, s_per_page: float, threads: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pages": pages,
        "s_per_page": s_per_page,
        "pages_per_s": 1 / s_per_page if s_per_page else float("inf"),
        "threads": threads,
        **extra,
    }


def run_speed_benchmark(
    library: Path | None = None,
    seed: int = 7,
    pages: int = 12,
    fasterrcnn: bool = True,
    ocr: bool = True,
    synthetic: int = 4,
    threads: int | None = None,
) -> dict:
    """Time the engines; see the module docstring. ``threads`` defaults to every core."""
    if library is not None:
        return _run(Path(library), pages, fasterrcnn, ocr, synthetic, threads)
    from comix_resources.demo import generate_demo_library

    with tempfile.TemporaryDirectory(prefix="comix-speed-") as folder:
        root = Path(folder) / "demo"
        generate_demo_library(root, seed=seed)
        return _run(root, pages, fasterrcnn, ocr, synthetic, threads)


def _run(
    library: Path, count: int, fasterrcnn: bool, ocr: bool, synthetic: int, threads: int | None
) -> dict:
    import cv2

    from comix_resources.benchmarks.contour_speed import synthetic_pages
    from comix_resources.detection import ContourDetector

    cores = threads or os.cpu_count() or 1
    load_before = os.getloadavg()
    chosen = _spread(list(iter_demo_pages(library)), count)
    images = [page.rgb() for page in chosen]
    detector = ContourDetector()
    rows: list[dict[str, Any]] = []
    setup: dict[str, float] = {}
    saved_threads = cv2.getNumThreads()
    try:
        scans = [page for page, _ in synthetic_pages(synthetic)]
        for n in sorted({1, cores}):
            cv2.setNumThreads(n)
            detector.detect(images[0])  # warm-up: OpenCV allocates its pools on first use
            rows.append(
                _row("contour, demo pages", len(images), _time(detector.detect, images, 3), n)
            )
            s = _time(detector.detect, scans, 2)
            ratio = f"{KUMIKO_S_PER_PAGE / s:.1f}x Kumiko" if n == 1 else None
            rows.append(
                _row(
                    "contour, 2000x3000 synthetic",
                    len(scans),
                    s,
                    n,
                    ratio=ratio,
                    note=(
                        f"Kumiko {KUMIKO_S_PER_PAGE} s/page on one core: constant from the issue"
                        if n == 1
                        else None
                    ),
                )
            )
    finally:
        cv2.setNumThreads(saved_threads)

    if ocr:
        rows.append(_ocr_row(chosen, cores, setup))
    if fasterrcnn:
        rows.append(_fasterrcnn_row(images, cores, setup))
    if ocr:
        rows.append(_pipeline_row(chosen, detector, cores))
    return {
        "benchmark": "speed",
        "measurements": rows,
        "setup_s": setup,
        "timing": {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
    }


def _ocr_row(chosen: Sequence[DemoPage], cores: int, setup: dict[str, float]) -> dict[str, Any]:
    from comix_resources.text import OcrEngine

    engine = OcrEngine(threads=cores)
    started = time.perf_counter()
    engine.extract(chosen[0].data, chosen[0].width, chosen[0].height)  # loads the ONNX models
    setup["ocr_load_and_first_page_s"] = time.perf_counter() - started
    s = _time(lambda p: engine.extract(p.data, p.width, p.height), chosen)
    return _row("OCR (RapidOCR, OcrEngine)", len(chosen), s, cores, note=engine.model)


def _fasterrcnn_row(
    images: Sequence[np.ndarray], cores: int, setup: dict[str, float]
) -> dict[str, Any]:
    import torch

    from comix_resources.detection import FasterRCNNDetector
    from comix_resources.detection.fasterrcnn import build_model

    saved = torch.get_num_threads()
    torch.set_num_threads(cores)
    try:
        with tempfile.TemporaryDirectory(prefix="comix-frcnn-") as folder:
            checkpoint = Path(folder) / "random.pth"
            torch.manual_seed(0)
            # 5 classes: CoMix's layout (background, panel, character, text, face)
            torch.save(build_model(num_classes=5).state_dict(), checkpoint)
            started = time.perf_counter()
            detector = FasterRCNNDetector(checkpoint)
            detector.detect(images[0])
            setup["fasterrcnn_load_and_first_page_s"] = time.perf_counter() - started
        sample = list(images[:4])  # a few pages: several seconds each on a small CPU
        s = _time(detector.detect, sample)
    finally:
        torch.set_num_threads(saved)
    return _row(
        "Faster R-CNN (random weights)",
        len(sample),
        s,
        cores,
        note="speed only; 1024 square -> 800x800 input",
    )


def _pipeline_row(chosen: Sequence[DemoPage], detector: Any, cores: int) -> dict[str, Any]:
    """Decode, contour, OCR, quality and one DataSpec row per page, as an asset run would."""
    from comix_resources.dataspec import build_page
    from comix_resources.detection import detections_to_rows
    from comix_resources.quality import classify_page, page_features
    from comix_resources.text import OcrEngine

    engine = OcrEngine(threads=cores)
    engine.extract(chosen[0].data, chosen[0].width, chosen[0].height)  # load outside the clock

    def one(page: DemoPage) -> None:
        image = page.rgb()
        detection = detector.detect(image, rtl=page.book.rtl)
        answer = engine.extract(page.data, page.width, page.height)
        boxes = [i.bbox for i in answer.items if i.bbox]
        panels = 0 if detection.whole_page else len(detection.panels)
        classify_page(page_features(image, boxes, panels))
        build_page(
            {
                "page_id": page.page_id,
                "book_id": page.book.book_id,
                "page_index": page.page_index,
                "path": str(page.book.path),
                "width": page.width,
                "height": page.height,
            },
            detections_to_rows([(page.page_id, detection)]),
            {
                "engine": engine.name,
                "model": engine.model,
                "status": "ok",
                "items": json.dumps([i.to_json() for i in answer.items]),
                "vlm": None,
            },
            "demo",
            "all",
        )

    s = _time(one, chosen)
    return _row("whole page pipeline", len(chosen), s, cores, note="decode+contour+OCR+quality+row")
