"""Speed of the contour detector on one core.

    python -m comix_resources.benchmarks.contour_speed [IMAGE...]

Times synthetic 2000x3000 scans (cream paper, grain, slight rotation) and,
optionally, real files; decoding is timed apart from detection.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from comix_resources.detection.contour import ContourDetector
from comix_resources.detection.files import iter_image_files, load_image
from comix_resources.detection.synthetic import box_polygon, draw_page, random_layout, scan_like

PAGE_SIZE = (2000, 3000)


def synthetic_pages(count: int = 12, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """``count`` scan-like pages with their true panel counts."""
    pages = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        boxes = random_layout(PAGE_SIZE, rng)
        paper = (255, 255, 255) if i % 2 else (238, 228, 196)
        page = draw_page(
            [box_polygon(*b) for b in boxes], PAGE_SIZE, paper=paper, frame=6, seed=seed + i
        )
        angle, noise = float(rng.uniform(-0.8, 0.8)), float(rng.uniform(0, 10))
        pages.append((scan_like(page, angle=angle, noise=noise, seed=seed + i), len(boxes)))
    return pages


def run_detection_benchmark(images: list[Path] | None = None, repeats: int = 3) -> dict:
    """Pages per second of detection (and of decode + detection) on one core; prints them."""
    cv2.setNumThreads(1)  # the published Kumiko figure is single-core
    detector = ContourDetector()
    pages = synthetic_pages()
    correct = sum(len(detector.detect(page).panels) == truth for page, truth in pages)
    start = time.perf_counter()
    for _ in range(repeats):
        for page, _truth in pages:
            detector.detect(page)
    detect_s = (time.perf_counter() - start) / (repeats * len(pages))

    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, (page, _truth) in enumerate(pages):
            files.append(Path(folder) / f"page{i}.jpg")
            Image.fromarray(page).save(files[-1], quality=90)
        start = time.perf_counter()
        for path in files:
            detector.detect(load_image(path))
        file_s = (time.perf_counter() - start) / len(files)

    report: dict = {
        "page_size": list(PAGE_SIZE),
        "synthetic_pages": len(pages),
        "synthetic_exact_count": correct,
        "detect_s_per_page": round(detect_s, 4),
        "detect_pages_per_s": round(1 / detect_s, 1),
        "jpeg_decode_and_detect_s_per_page": round(file_s, 4),
        "jpeg_decode_and_detect_pages_per_s": round(1 / file_s, 1),
    }
    if images:
        paths = list(iter_image_files(images))
        start = time.perf_counter()
        counts = {path.name: len(detector.detect(load_image(path)).panels) for path in paths}
        report["files"] = counts
        report["files_s_per_page"] = round((time.perf_counter() - start) / max(1, len(paths)), 4)
    for key, value in report.items():
        print(f"{key}: {value}")
    return report


if __name__ == "__main__":
    run_detection_benchmark([Path(arg) for arg in sys.argv[1:]] or None)
