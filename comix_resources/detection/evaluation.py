"""Panel detectors scored against hand-made truth on real pages: the learned detector's gate
and ``comix bench real-pages`` share these figures.

A truth file (the format of ``shared/fixtures/real_pages/science_comics_001.truth.json``) gives
the pages of a CBZ, by entry name, their panel boxes ``[x, y, w, h]`` in reading order and their
page type. Matching is one-to-one (Hungarian, ``boxes.match_boxes``) at an IoU threshold;
figures are micro-averaged over pages. The advert page ``pg00b`` of that comic (47 catalogue
cells, a judgement call) is left out of the gate's figures.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.boxes import BoxLike, match_boxes
from comix_resources.detection.base import Detection, PanelDetector
from comix_resources.detection.files import load_image

ADVERT_PAGE = "pg00b"
IOU_THRESHOLDS = (0.5, 0.8)


@dataclass(frozen=True)
class PagePanelScore:
    """Panels of one page against its truth at one IoU threshold."""

    n_pred: int
    n_truth: int
    matches: dict[int, tuple[int, float]]  # pred index -> (truth index, IoU)

    @property
    def tp(self) -> int:
        return len(self.matches)

    @property
    def missed(self) -> list[int]:
        """Truth indices without a predicted panel."""
        found = {j for j, _ in self.matches.values()}
        return [j for j in range(self.n_truth) if j not in found]

    @property
    def spurious(self) -> list[int]:
        """Predicted indices without a truth panel."""
        return [i for i in range(self.n_pred) if i not in self.matches]

    @property
    def min_iou(self) -> float:
        """Worst IoU over the truth panels, 0 when one is missed (1 on a page without any)."""
        if self.missed:
            return 0.0
        return min((iou for _, iou in self.matches.values()), default=1.0)

    @property
    def order_exact(self) -> bool:
        """Every panel found, none extra, and the i-th predicted is the i-th true panel."""
        return self.n_pred == self.n_truth == self.tp and all(
            j == i for i, (j, _) in self.matches.items()
        )


def score_page_panels(
    pred: Sequence[BoxLike], truth: Sequence[BoxLike], min_iou: float = 0.5
) -> PagePanelScore:
    """Match one page's predicted panels to its truth panels (both in reading order)."""
    return PagePanelScore(len(pred), len(truth), match_boxes(pred, truth, min_iou))


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def panel_prf(scores: Iterable[PagePanelScore]) -> dict[str, float | int]:
    """Micro-averaged precision, recall and F1 over pages (every panel weighs the same)."""
    tp = n_pred = n_truth = 0
    for score in scores:
        tp, n_pred, n_truth = tp + score.tp, n_pred + score.n_pred, n_truth + score.n_truth
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_truth if n_truth else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1(precision, recall),
        "tp": tp,
        "predicted": n_pred,
        "truth": n_truth,
    }


@dataclass(frozen=True)
class RealPage:
    name: str  # entry name in the archive
    image: np.ndarray
    truth: list[list[int]]
    page_type: str  # the truth's page type (for the per-type breakdown only)
    position: int  # index in the book


def load_real_pages(truth_file: Path, archive: Path) -> list[RealPage]:
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


def rules_page_type(page: RealPage) -> str | None:
    """What the page-type rules say without a model: the book's first page is its cover."""
    return "cover" if page.position == 0 else None


def detected_panels(detection: Detection) -> list[list[int]]:
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
        pred = detected_panels(detection)
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


def detect_page(detector: PanelDetector, page: RealPage) -> Detection:
    return detector.detect(page.image, page_type=rules_page_type(page))


def evaluate_detector(detector: PanelDetector, pages: Sequence[RealPage]) -> dict[str, float]:
    """One detector's real-page figures without the advert page, as a model registry logs
    them: ``f1``, ``precision``, ``recall`` (IoU 0.5), ``f1_iou08``, ``exact_count``,
    ``order_ok`` (a share of the pages with two or more matches) and ``s_per_page``."""
    pages = [p for p in pages if ADVERT_PAGE not in p.name]
    started = time.perf_counter()
    detections = [detect_page(detector, page) for page in pages]
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
