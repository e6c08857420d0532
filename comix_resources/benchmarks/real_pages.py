"""Panel detectors on real published pages with hand-made truth: ``comix bench real-pages``.

The truth file (``shared/fixtures/real_pages/science_comics_001.truth.json``) gives every page
of a real 1946 comic (``real_archives/stump/science_comics_001.cbz``) its panel boxes in reading
order and its page type. Every detector runs on the same decoded pages, interleaved page by
page so that the load of a shared machine weighs on them alike, and is scored with:

- precision, recall and F1 of one-to-one matches (``boxes.match_boxes``) at IoU 0.5 and 0.8,
  micro-averaged over pages;
- exact count: pages where the detector finds as many panels as the truth has. A page with no
  truth panel (a prose text story) counts as exact when the detector reports only its
  ``whole_page`` fallback ("no panel layout here"), and that fallback is not a false panel
  there; everywhere else the fallback box is scored as a panel (a cover is one whole-page
  panel);
- reading order: pages with two or more matched panels (IoU 0.5) where the matched panels come
  in the truth's order (the figure the issue reports);
- seconds per page of detection alone (decoding excluded).

The ring-advert page ``pg00b`` (47 catalogue cells, a judgement call) is reported apart: figures
are given with and without it. Detectors get the page type that the page-type rules give
before any model exists: the first page of a book is its cover (``page_stream.rules``).
Kumiko's figures on the same pages, as the issue published them, are a reference line; Kumiko
itself is not run (AGPL, and not a dependency).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.detection.base import Detection, PanelDetector
from comix_resources.detection.evaluation import (
    ADVERT_PAGE,
    RealPage,
    detect_page,
    detected_panels,
    score_detections,
)
from comix_resources.detection.evaluation import (
    load_real_pages as load_truth_pages,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures"
DEFAULT_TRUTH = FIXTURES / "real_pages/science_comics_001.truth.json"
DEFAULT_ARCHIVE = FIXTURES / "real_archives/stump/science_comics_001.cbz"
# Published in issue 14 for these 35 pages (without pg00b); not measured here.
KUMIKO_REFERENCE: dict[str, Any] = {
    "name": "Kumiko (issue 14, reference)",
    "without_advert": {
        "f1@0.5": 0.882,
        "precision@0.5": 0.920,
        "recall@0.5": 0.847,
        "exact_count": 26,
        "order_ok": 24,
        "order_pages": 26,
    },
    # On the hidden 1960s scans, one core (the only speed figure published for Kumiko).
    "s_per_page": 1.3,
}


def load_real_pages(
    truth_file: Path = DEFAULT_TRUTH, archive: Path = DEFAULT_ARCHIVE
) -> list[RealPage]:
    """The 1946 comic's pages with their truth (the shared fixtures), or another truth file."""
    return load_truth_pages(truth_file, archive)


def generated_pages(count: int, seed: int = 90_000) -> list[RealPage]:
    """Held-out pages from the learned detector's generator (``demo.detector_pages``, seeds
    far from the training set's): the layouts of modern and painted comics that the 1946
    comic lacks, with exact truth. A check on those layouts, not real material."""
    from comix_resources.demo.detector_pages import detector_page

    pages = []
    for i in range(count):
        page = detector_page(seed + i)
        kind = {"cover": "cover", "prose": "textstory"}.get(page.kind, "story")
        # Position 0 makes the page-type rules call a generated cover a cover.
        position = 0 if page.kind == "cover" else i + 1
        pages.append(
            RealPage(
                f"generated_{seed + i}.png",
                page.image,
                [list(b) for b in page.panels],
                kind,
                position,
            )
        )
    return pages


def run_real_pages_benchmark(
    detectors: dict[str, PanelDetector],
    truth_file: Path = DEFAULT_TRUTH,
    archive: Path = DEFAULT_ARCHIVE,
    overlays: Path | None = None,
    pages: Sequence[RealPage] | None = None,
) -> dict[str, Any]:
    """Every detector on every real page (or on ``pages``), scored with and without the
    advert page."""
    import cv2

    cv2.setNumThreads(1)  # seconds per page on one core, as the targets are stated
    load_before = os.getloadavg()
    if pages is None:
        pages = load_real_pages(truth_file, archive)
    else:
        truth_file = archive = Path("generated")
    found: dict[str, list[Detection]] = {name: [] for name in detectors}
    seconds: dict[str, float] = dict.fromkeys(detectors, 0.0)
    for page in pages:
        for name, detector in detectors.items():
            started = time.perf_counter()
            found[name].append(detect_page(detector, page))
            seconds[name] += time.perf_counter() - started
    keep = [i for i, p in enumerate(pages) if ADVERT_PAGE not in p.name]
    results = []
    for name in detectors:
        every = score_detections(pages, found[name])
        without = score_detections([pages[i] for i in keep], [found[name][i] for i in keep])
        results.append(
            {
                "name": name,
                "version": found[name][0].detector_version if found[name] else "",
                "with_advert": every["figures"],
                "without_advert": without["figures"],
                "s_per_page": seconds[name] / max(1, len(pages)),
                "page_rows": every["pages"],
            }
        )
        if overlays is not None:
            write_overlays(pages, found[name], Path(overlays) / name)
    return {
        "benchmark": "real-pages",
        "truth": str(truth_file),
        "archive": str(archive),
        "pages": len(pages),
        "advert_page": ADVERT_PAGE,
        "detectors": results,
        "reference": KUMIKO_REFERENCE,
        "timing": {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
    }


def real_pages_detectors(
    names: Sequence[str] | None = None,
    learned_folder: Path | None = None,
    checkpoint: Path | None = None,
) -> dict[str, PanelDetector]:
    """The detectors to compare by name; by default contour, plus the learned champion when
    ``$COMIX_HOME``'s MLflow has one (or ``learned_folder`` is given)."""
    from comix_resources.detection import make_detector
    from comix_resources.detection.learned import LearnedDetector
    from comix_resources.detection.registry import EXPERIMENT, champion_detector, load_champion
    from comix_resources.settings import ComixSettings
    from comix_resources.tracking import Tracker, sqlite_tracking_uri

    settings = ComixSettings.from_env()

    def tracker() -> Tracker:
        return Tracker(
            sqlite_tracking_uri(settings.mlflow_db), settings.mlflow_artifacts, EXPERIMENT
        )

    detectors: dict[str, PanelDetector] = {}
    wanted = list(names or ["contour"])
    if names is None and (
        learned_folder or (settings.mlflow_db.exists() and load_champion(tracker()) is not None)
    ):
        wanted.append("learned")
    for name in wanted:
        if name == "learned" and learned_folder:
            detectors[name] = LearnedDetector.load(learned_folder)
        elif name == "learned":
            detectors[name] = champion_detector(tracker())
        elif name == "fasterrcnn":
            detectors[name] = make_detector(name, checkpoint=checkpoint)
        else:
            detectors[name] = make_detector(name)
    return detectors


def write_overlays(
    pages: Sequence[RealPage],
    detections: Sequence[Detection],
    folder: Path,
) -> list[Path]:
    """PNG per page: truth boxes in green, detections in red with their reading order."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for page, detection in zip(pages, detections, strict=True):
        image = page.image if page.image.ndim == 3 else np.repeat(page.image[:, :, None], 3, 2)
        canvas = np.ascontiguousarray(image.copy())
        for x, y, w, h in page.truth:
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (0, 170, 0), 3)
        for rank, (x, y, w, h) in enumerate(detected_panels(detection)):
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (230, 0, 0), 1)
            cv2.putText(canvas, str(rank + 1), (x + 4, y + 16), 0, 0.5, (230, 0, 0), 2)
        path = folder / (Path(page.name).stem + ".png")
        cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        written.append(path)
    return written
