"""Small, pure metric functions the benchmarks are built from (tested on tiny cases).

Panel matching is one-to-one (Hungarian, ``boxes.match_boxes``), the same matching that
``dataspec.evaluate`` uses, so the figures here and there agree on what "found" means.
Boxes are ``[x, y, w, h]``; predicted and truth boxes are both given in reading order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from comix_resources.boxes import BoxLike, match_boxes


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
