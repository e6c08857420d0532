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

import json
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.benchmarks.metrics import panel_prf, score_page_panels
from comix_resources.detection.base import Detection, PanelDetector
from comix_resources.detection.files import load_image

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures"
DEFAULT_TRUTH = FIXTURES / "real_pages/science_comics_001.truth.json"
DEFAULT_ARCHIVE = FIXTURES / "real_archives/stump/science_comics_001.cbz"
ADVERT_PAGE = "pg00b"
IOU_THRESHOLDS = (0.5, 0.8)
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


@dataclass(frozen=True)
class RealPage:
    name: str  # entry name in the archive
    image: np.ndarray
    truth: list[list[int]]
    page_type: str  # the truth's page type (for the per-type breakdown only)
    position: int  # index in the book


def load_real_pages(
    truth_file: Path = DEFAULT_TRUTH, archive: Path = DEFAULT_ARCHIVE
) -> list[RealPage]:
    """The archive's pages that the truth file describes, decoded, in book order."""
    truth = json.loads(Path(truth_file).read_text(encoding="utf-8"))["pages"]
    pages = []
    with zipfile.ZipFile(archive) as book:
        names = sorted(n for n in book.namelist() if n in truth)
        missing = sorted(set(truth) - set(names))
        if missing:
            raise ValueError(f"{archive} lacks pages named in {truth_file}: {missing[:5]}")
        for position, name in enumerate(names):
            with book.open(name) as handle:
                image = load_image(handle)
            entry = truth[name]
            pages.append(RealPage(name, image, entry["panels"], entry["page_type"], position))
    return pages


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


def rules_page_type(page: RealPage) -> str | None:
    """What the page-type rules say without a model: the book's first page is its cover."""
    return "cover" if page.position == 0 else None


def _panels(detection: Detection) -> list[list[int]]:
    return [list(p.bbox) for p in detection.panels if p.category == "panel"]


def order_kept(pred: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> bool | None:
    """Whether panels matched at IoU 0.5 come in the truth's order; None under two matches."""
    matches = score_page_panels(pred, truth, 0.5).matches
    if len(matches) < 2:
        return None
    truth_order = [matches[i][0] for i in sorted(matches)]
    return truth_order == sorted(truth_order)


def score_detections(pages: Sequence[RealPage], detections: Sequence[Detection]) -> dict[str, Any]:
    """The figures of one detector over ``pages`` (see the module docstring)."""
    per_iou: dict[float, list] = {t: [] for t in IOU_THRESHOLDS}
    exact = 0
    order_ok = order_pages = 0
    rows = []
    for page, detection in zip(pages, detections, strict=True):
        pred = _panels(detection)
        if not page.truth and detection.whole_page:
            pred = []  # "no layout here" on a prose page is the right answer, not a panel
        for threshold in IOU_THRESHOLDS:
            per_iou[threshold].append(score_page_panels(pred, page.truth, threshold))
        exact += len(pred) == len(page.truth)
        kept = order_kept(pred, page.truth)
        if kept is not None:
            order_pages += 1
            order_ok += kept
        strict = per_iou[0.5][-1]
        rows.append(
            {
                "page": page.name.rsplit("_", 1)[-1].removesuffix(".jpeg"),
                "type": page.page_type,
                "truth": len(page.truth),
                "predicted": len(pred),
                "matched@0.5": strict.tp,
                "matched@0.8": per_iou[0.8][-1].tp,
                "order_ok": kept,
            }
        )
    figures: dict[str, Any] = {"pages": len(pages), "exact_count": exact}
    for threshold, scores in per_iou.items():
        prf = panel_prf(scores)
        figures[f"f1@{threshold}"] = prf["f1"]
        figures[f"precision@{threshold}"] = prf["precision"]
        figures[f"recall@{threshold}"] = prf["recall"]
        figures["truth_panels"], figures["predicted_panels"] = prf["truth"], prf["predicted"]
    figures["order_ok"], figures["order_pages"] = order_ok, order_pages
    return {"figures": figures, "pages": rows}


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
            found[name].append(_detect(detector, page))
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


def _detect(detector: PanelDetector, page: RealPage) -> Detection:
    return detector.detect(page.image, page_type=rules_page_type(page))


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
        for rank, (x, y, w, h) in enumerate(_panels(detection)):
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (230, 0, 0), 1)
            cv2.putText(canvas, str(rank + 1), (x + 4, y + 16), 0, 0.5, (230, 0, 0), 2)
        path = folder / (Path(page.name).stem + ".png")
        cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        written.append(path)
    return written


def evaluate_detector(
    detector: PanelDetector, pages: Sequence[RealPage] | None = None
) -> dict[str, float]:
    """One detector's real-page figures without the advert page, as a model registry logs
    them: ``f1``, ``precision``, ``recall`` (IoU 0.5), ``f1_iou08``, ``exact_count``,
    ``order_ok`` (a share of the pages with two or more matches) and ``s_per_page``."""
    pages = [p for p in (pages or load_real_pages()) if ADVERT_PAGE not in p.name]
    started = time.perf_counter()
    detections = [_detect(detector, page) for page in pages]
    seconds = (time.perf_counter() - started) / max(1, len(pages))
    f = score_detections(pages, detections)["figures"]
    return {
        "f1": f["f1@0.5"],
        "precision": f["precision@0.5"],
        "recall": f["recall@0.5"],
        "f1_iou08": f["f1@0.8"],
        "exact_count": float(f["exact_count"]),
        "order_ok": f["order_ok"] / max(1, f["order_pages"]),
        "s_per_page": seconds,
    }
