"""Score DataSpec rows against the demo library's ground truth (``<book>.truth.json``).

Two questions: did each text line land in the right panel, and are the pages that claim to be
aligned really comic pages with a usable alignment? Predicted panels are matched one-to-one to
truth panels (Hungarian, IoU >= 0.5); a predicted panel without a match stands for "no panel",
so text the truth keeps outside panels (titles, credits) is right when it is unassigned or
lands in a spurious panel, and text the truth puts in panel *k* is right only when it lands in
the predicted panel matched to *k*.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from comix_resources.boxes import BoxLike, containment_matrix, iou_matrix, match_boxes

TEXT_MIN_IOU = 0.3
TEXT_MIN_CONTAINMENT = 0.6  # an OCR line is a small part of a truth balloon: IoU undersells it
TEXT_MIN_SIMILARITY = 0.6


def _squash(text: str) -> str:
    return re.sub(r"\W+", "", text).lower()


def _scale(box: Sequence[float], sx: float, sy: float) -> list[float]:
    x, y, w, h = box
    return [x * sx, y * sy, w * sx, h * sy]


def _match_text(
    pred: dict[str, Any], truth_texts: list[dict[str, Any]], truth_boxes: list[list[float]]
) -> int | None:
    """Index of the truth text a predicted item reads, by box when it has one, else by words."""
    if not truth_texts:
        return None
    if pred["bbox"] is not None:
        iou = iou_matrix([pred["bbox"]], truth_boxes)[0]
        inside = containment_matrix([pred["bbox"]], truth_boxes)[0]
        ok = (iou >= TEXT_MIN_IOU) | (inside >= TEXT_MIN_CONTAINMENT)
        if not ok.any():
            return None
        return int(np.argmax(np.where(ok, iou + inside, -1.0)))
    words = _squash(pred["text"])
    if not words:
        return None
    best, best_ratio = None, TEXT_MIN_SIMILARITY
    for k, truth in enumerate(truth_texts):
        target = _squash(truth["text"])
        ratio = 1.0 if len(words) >= 4 and words in target else 0.0
        ratio = max(ratio, difflib.SequenceMatcher(None, words, target).ratio())
        if ratio >= best_ratio:
            best, best_ratio = k, ratio
    return best


def panel_metrics(
    pred_boxes_by_page: Mapping[str, Sequence[BoxLike]],
    truth_boxes_by_page: Mapping[str, Sequence[BoxLike]],
    iou: float = 0.5,
) -> dict[str, float]:
    """Panel detection precision, recall, F1 and the exact reading-order rate.

    Boxes are given per page in reading order. A page's order is exact when every predicted
    panel matches a truth panel one-to-one (IoU >= ``iou``), none is missing, and the i-th
    predicted panel matches the i-th truth panel; the rate is over pages with truth panels.
    """
    tp = n_pred = n_truth = exact = pages_with_truth = 0
    for page in sorted(set(pred_boxes_by_page) | set(truth_boxes_by_page)):
        pred = list(pred_boxes_by_page.get(page, []))
        truth = list(truth_boxes_by_page.get(page, []))
        matches = match_boxes(pred, truth, iou)
        tp += len(matches)
        n_pred += len(pred)
        n_truth += len(truth)
        if truth:
            pages_with_truth += 1
            exact += len(pred) == len(truth) == len(matches) and all(
                j == i for i, (j, _) in matches.items()
            )
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_truth if n_truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "order_exact_rate": exact / pages_with_truth if pages_with_truth else 0.0,
    }


def evaluate_against_truth(
    dataspec: pl.DataFrame, pages: pl.DataFrame, truth_by_book: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """Text-to-panel accuracy and aligned-page rate of ``dataspec`` against the ground truth.

    ``pages`` maps ``page_id`` to ``book_id``, ``page_index``, ``width`` and ``height`` (truth
    boxes are scaled to the extracted image size); ``truth_by_book`` maps ``book_id`` to the
    loaded ``.truth.json``. Pages without truth are skipped. Returned keys:

    - ``text_panel_accuracy``: share of matched predicted text items placed in the right panel
      (or rightly in none); ``text_panel_accuracy_in_panels``: the same over items whose truth
      text lies in a panel, the part that alignment is for; ``text_panel_accuracy_aligned``:
      the same as the first over pages with ``is_aligned``, i.e. what training sees.
    - ``truth_text_recall``: share of truth texts read by at least one predicted item;
      ``unmatched_texts``: predicted items that read no truth text (OCR noise).
    - ``aligned_page_rate``: share of comic pages with ``is_aligned``;
      ``non_comic_aligned``: non-comic pages that claim alignment.
    - ``panels``: ``panel_metrics`` of the predicted panels.
    """
    info = {r["page_id"]: r for r in pages.iter_rows(named=True)}
    matched = correct = in_panel = in_panel_correct = unmatched = 0
    aligned_matched = aligned_correct = 0
    truth_total = truth_read = 0
    comic = aligned = non_comic_aligned = 0
    pred_boxes: dict[str, list[BoxLike]] = {}
    truth_boxes_by_page: dict[str, list[BoxLike]] = {}
    for row in dataspec.sort("page_id").iter_rows(named=True):
        page = info.get(row["page_id"])
        truth_book = truth_by_book.get(page["book_id"]) if page else None
        if page is None or truth_book is None:
            continue
        by_index = {p["page_index"]: p for p in truth_book["pages"]}
        truth = by_index.get(page["page_index"])
        if truth is None:
            continue
        sx, sy = page["width"] / truth["width"], page["height"] / truth["height"]
        truth_panels = sorted(truth["panels"], key=lambda p: p["order"])
        truth_panel_boxes = [_scale(p["bbox"], sx, sy) for p in truth_panels]
        panels = row["panels"]
        pred_boxes[row["page_id"]] = [p["panel_coords"] for p in panels]
        truth_boxes_by_page[row["page_id"]] = truth_panel_boxes

        if truth["is_comic"]:
            comic += 1
            aligned += bool(row["is_aligned"])
        else:
            non_comic_aligned += bool(row["is_aligned"])

        pairs = match_boxes([p["panel_coords"] for p in panels], truth_panel_boxes, 0.5)
        truth_order_of = {
            panels[i]["order"]: truth_panels[j]["order"] for i, (j, _) in pairs.items()
        }
        truth_texts = truth["texts"]
        truth_text_boxes = [_scale(t["bbox"], sx, sy) for t in truth_texts]
        read = set()
        for item in row["texts"]:
            k = _match_text(item, truth_texts, truth_text_boxes)
            if k is None:
                unmatched += 1
                continue
            read.add(k)
            expected = truth_texts[k]["panel"]
            got = truth_order_of.get(item["panel"]) if item["panel"] is not None else None
            matched += 1
            correct += got == expected
            if row["is_aligned"]:
                aligned_matched += 1
                aligned_correct += got == expected
            if expected is not None:
                in_panel += 1
                in_panel_correct += got == expected
        truth_total += len(truth_texts)
        truth_read += len(read)
    return {
        "pages": len(pred_boxes),
        "comic_pages": comic,
        "aligned_comic_pages": aligned,
        "aligned_page_rate": aligned / comic if comic else 0.0,
        "non_comic_aligned": non_comic_aligned,
        "texts_matched": matched,
        "text_panel_accuracy": correct / matched if matched else 0.0,
        "text_panel_accuracy_aligned": (
            aligned_correct / aligned_matched if aligned_matched else 0.0
        ),
        "texts_in_panels": in_panel,
        "text_panel_accuracy_in_panels": in_panel_correct / in_panel if in_panel else 0.0,
        "truth_text_recall": truth_read / truth_total if truth_total else 0.0,
        "unmatched_texts": unmatched,
        "panels": panel_metrics(pred_boxes, truth_boxes_by_page),
    }
