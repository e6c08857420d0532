"""Metrics of page stream segmentation on held-out books: page classification and CoSMo's
stream metrics.

Page level (pooled over every labelled page): ``accuracy``, per-class precision, recall, F1
and support, and ``macro_f1``, the mean F1 over the classes that occur in the truth or the
predictions (scikit-learn's ``average="macro"``).

Stream level, per book, then averaged over books (as CoSMo's evaluation does). A book's
segmentation is its maximal runs of equal page classes (CoSMo's ``get_breaking_points``: a
``first-page`` is a run of its own, so a story's first page marks the document boundary).

- Matching: a predicted and a true segment match when their IoU (shared pages over pages in
  either) is above 0.5. Such a match is unique (two segments can not both cover more than half
  of a third), so TP is the number of matched pairs, FP the unmatched predicted segments and
  FN the unmatched true ones.
- ``rq`` (recognition quality) = TP / (TP + FP/2 + FN/2), the segment F1;
  ``sq`` (segmentation quality) = the mean IoU of the matched pairs (0 without matches);
  ``pq`` (panoptic quality) = ``rq * sq`` (Kirillov et al. 2019; OpenPSS, TPDL 2024).
- ``mndd``: CoSMo's MnDD, "minimum normalised document distance": the number of pages that
  must be moved to turn the predicted segmentation into the true one, N - sum over true
  segments of their largest overlap with one predicted segment (0 is perfect). CoSMo reports
  this page count per book, averaged over books; ``mndd_normalised`` divides each book's count
  by its page count first (0..1, comparable across book lengths).

Stream metrics look at boundaries only, not at a segment's class (CoSMo's definition): a
one-page advert called credits still matches, so accuracy can fall while PQ stays at 1.

Pages whose true class is unknown (None) are dropped from both sequences first, as CoSMo's
loader drops unlabelled pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from comix_resources.page_classes import PAGE_CLASSES

IOU_THRESHOLD = 0.5


def runs(labels: Sequence[Any]) -> list[range]:
    """Maximal runs of equal labels, as page-position ranges."""
    out: list[range] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append(range(start, i))
            start = i
    return out if labels else []


def _iou(a: range, b: range) -> float:
    inter = max(0, min(a.stop, b.stop) - max(a.start, b.start))
    return inter / (len(a) + len(b) - inter)


def stream_metrics(true: Sequence[Any], pred: Sequence[Any]) -> dict[str, float]:
    """PQ, SQ, RQ, segment precision/recall, MnDD of one book (see the module docstring)."""
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true labels but {len(pred)} predictions")
    keep = [i for i, t in enumerate(true) if t is not None]
    true = [true[i] for i in keep]
    pred = [pred[i] for i in keep]
    n = len(true)
    if n == 0:
        return {
            "pq": 1.0,
            "sq": 1.0,
            "rq": 1.0,
            "precision": 1.0,
            "recall": 1.0,
            "mndd": 0.0,
            "mndd_normalised": 0.0,
        }
    true_segments, pred_segments = runs(true), runs(pred)
    matched = [
        iou for p in pred_segments for t in true_segments if (iou := _iou(p, t)) > IOU_THRESHOLD
    ]
    tp = len(matched)
    fp, fn = len(pred_segments) - tp, len(true_segments) - tp
    rq = tp / (tp + 0.5 * fp + 0.5 * fn)
    sq = float(np.mean(matched)) if matched else 0.0
    overlap = sum(
        max(max(0, min(t.stop, p.stop) - max(t.start, p.start)) for p in pred_segments)
        for t in true_segments
    )
    return {
        "pq": rq * sq,
        "sq": sq,
        "rq": rq,
        "precision": tp / len(pred_segments),
        "recall": tp / len(true_segments),
        "mndd": float(n - overlap),
        "mndd_normalised": (n - overlap) / n,
    }


def classification_metrics(
    true: Sequence[str | None], pred: Sequence[str], classes: Sequence[str] = PAGE_CLASSES
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support over labelled pages."""
    pairs = [(t, p) for t, p in zip(true, pred, strict=True) if t is not None]
    per_class: dict[str, dict[str, float]] = {}
    present = []
    for cls in classes:
        tp = sum(t == cls and p == cls for t, p in pairs)
        n_true = sum(t == cls for t, _ in pairs)
        n_pred = sum(p == cls for _, p in pairs)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[cls] = {"precision": precision, "recall": recall, "f1": f1, "support": n_true}
        if n_true or n_pred:
            present.append(cls)
    return {
        "accuracy": sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0,
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in present])) if present else 0.0,
        "per_class": per_class,
        "pages": len(pairs),
    }


def evaluate_books(
    books: Sequence[tuple[Sequence[str | None], Sequence[str]]],
    classes: Sequence[str] = PAGE_CLASSES,
) -> dict[str, Any]:
    """Page metrics pooled over all pages and stream metrics averaged over books, for
    ``(true labels, predicted labels)`` pairs, one per book."""
    true = [t for labels, _ in books for t in labels]
    pred = [p for _, labels in books for p in labels]
    report = classification_metrics(true, pred, classes)
    per_book = [stream_metrics(t, p) for t, p in books if any(x is not None for x in t)]
    for key in ("pq", "sq", "rq", "mndd", "mndd_normalised"):
        report[key] = float(np.mean([m[key] for m in per_book])) if per_book else 0.0
    report["books"] = len(per_book)
    return report


def _one_story(label: str | None) -> str | None:
    return "story" if label == "first-page" else label


def comicinfo_agreement(
    books: Sequence[tuple[Sequence[int], Sequence[str], Sequence[str | None]]],
) -> dict[str, Any] | None:
    """How often predicted page classes say what the books' own ComicInfo page types say.

    ``books``: ``(page indices, predicted labels, ComicInfo labels by page index)`` per book
    (``labels.comicinfo_labels``). ``first-page`` and ``story`` count as one class, since
    ComicInfo has one ``Story`` type; pages without a usable type are left out. None when no
    page has one. Returns ``books``, ``pages``, ``accuracy`` and ``per_class`` ({class:
    {"pages", "agreed"}}, by the ComicInfo label).
    """
    per_class: dict[str, dict[str, int]] = {}
    counted_books = 0
    for indices, predicted, declared in books:
        pairs = [
            (_one_story(declared[index]), _one_story(label))
            for index, label in zip(indices, predicted, strict=True)
            if index < len(declared) and declared[index] is not None
        ]
        counted_books += bool(pairs)
        for truth, guess in pairs:
            entry = per_class.setdefault(str(truth), {"pages": 0, "agreed": 0})
            entry["pages"] += 1
            entry["agreed"] += truth == guess
    pages = sum(entry["pages"] for entry in per_class.values())
    if not pages:
        return None
    agreed = sum(entry["agreed"] for entry in per_class.values())
    return {
        "books": counted_books,
        "pages": pages,
        "accuracy": agreed / pages,
        "per_class": dict(sorted(per_class.items())),
    }
