"""Small, pure metric functions the benchmarks are built from (tested on tiny cases).

Panel matching is one-to-one (Hungarian, ``boxes.match_boxes``), the same matching that
``dataspec.evaluate`` uses, so the figures here and there agree on what "found" means.
Boxes are ``[x, y, w, h]``; predicted and truth boxes are both given in reading order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from comix_resources.detection.evaluation import (
    PagePanelScore,
    f1,
    panel_prf,
    score_page_panels,
)

__all__ = [
    "PagePanelScore",
    "binary_pr",
    "f1",
    "order_rate",
    "panel_prf",
    "score_page_panels",
]


def order_rate(scores: Iterable[PagePanelScore], min_truth: int = 2) -> dict[str, float | int]:
    """Share of pages with at least ``min_truth`` truth panels whose order is exactly right.

    Pages with a single panel are left out: their order cannot be wrong, and counting them
    would only dilute the figure.
    """
    eligible = [s for s in scores if s.n_truth >= min_truth]
    exact = sum(s.order_exact for s in eligible)
    return {
        "rate": exact / len(eligible) if eligible else 0.0,
        "exact": exact,
        "pages": len(eligible),
    }


def binary_pr(predicted: Sequence[bool], truth: Sequence[bool]) -> dict[str, float | int]:
    """Precision and recall of the positive class (``True``) of paired verdicts."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} truths")
    tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
    fp = sum(p and not t for p, t in zip(predicted, truth, strict=True))
    fn = sum(t and not p for p, t in zip(predicted, truth, strict=True))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }
