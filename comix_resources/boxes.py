"""Box arithmetic on ``[x, y, w, h]`` boxes in page pixels: IoU, containment, matching.

The one place for it: DataSpec alignment, the benchmarks, the quality table, the OCR benchmark and
the detectors all use these. Every matrix here is ``(len(a), len(b))`` so that callers can take
an argmax per row (a text against every panel) or feed it to the one-to-one ``match_boxes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BoxLike = Sequence[float]  # x, y, w, h


def as_array(boxes: Sequence[BoxLike]) -> np.ndarray:
    """``(n, 4)`` float array of ``x, y, w, h``; an empty input gives ``(0, 4)``."""
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=float)
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def _corners(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    x0, y0 = boxes[:, 0], boxes[:, 1]
    # Negative sizes come from sloppy engines; treat them as empty rather than inverted.
    x1 = x0 + np.maximum(boxes[:, 2], 0.0)
    y1 = y0 + np.maximum(boxes[:, 3], 0.0)
    return x0, y0, x1, y1


def intersection_matrix(a: Sequence[BoxLike], b: Sequence[BoxLike]) -> np.ndarray:
    """Intersection area of every box of ``a`` with every box of ``b``."""
    ax0, ay0, ax1, ay1 = _corners(as_array(a))
    bx0, by0, bx1, by1 = _corners(as_array(b))
    w = np.minimum(ax1[:, None], bx1[None, :]) - np.maximum(ax0[:, None], bx0[None, :])
    h = np.minimum(ay1[:, None], by1[None, :]) - np.maximum(ay0[:, None], by0[None, :])
    return np.clip(w, 0.0, None) * np.clip(h, 0.0, None)


def areas(boxes: Sequence[BoxLike]) -> np.ndarray:
    arr = as_array(boxes)
    return np.maximum(arr[:, 2], 0.0) * np.maximum(arr[:, 3], 0.0)


def iou_matrix(a: Sequence[BoxLike], b: Sequence[BoxLike]) -> np.ndarray:
    inter = intersection_matrix(a, b)
    union = areas(a)[:, None] + areas(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def containment_matrix(inner: Sequence[BoxLike], outer: Sequence[BoxLike]) -> np.ndarray:
    """Share of each ``inner`` box that lies inside each ``outer`` box (0..1).

    A degenerate inner box (zero width or height, as a one-glyph OCR line can be) counts as
    contained when its centre is inside, so it is not silently dropped.
    """
    inter = intersection_matrix(inner, outer)
    area = areas(inner)
    out = np.divide(inter, area[:, None], out=np.zeros_like(inter), where=area[:, None] > 0)
    degenerate = area <= 0
    if degenerate.any():
        centres = centre_points(as_array(inner)[degenerate])
        ox0, oy0, ox1, oy1 = _corners(as_array(outer))
        cx, cy = centres[:, 0:1], centres[:, 1:2]
        inside = (cx >= ox0) & (cx <= ox1) & (cy >= oy0) & (cy <= oy1)
        out[degenerate] = inside.astype(float)
    return out


def centre_points(boxes: np.ndarray) -> np.ndarray:
    return np.stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2], axis=1)


def centre_distance_matrix(a: Sequence[BoxLike], b: Sequence[BoxLike]) -> np.ndarray:
    ca, cb = centre_points(as_array(a)), centre_points(as_array(b))
    return np.hypot(ca[:, None, 0] - cb[None, :, 0], ca[:, None, 1] - cb[None, :, 1])


def box_2d_to_xywh(box: Sequence[float], width: int, height: int) -> list[int]:
    """A VLM ``[ymin, xmin, ymax, xmax]`` on a 0-1000 grid to ``[x, y, w, h]`` pixels."""
    ymin, xmin, ymax, xmax = box
    x0, y0 = round(xmin * width / 1000), round(ymin * height / 1000)
    x1, y1 = round(xmax * width / 1000), round(ymax * height / 1000)
    return [x0, y0, x1 - x0, y1 - y0]


def iou(a: BoxLike, b: BoxLike) -> float:
    """IoU of two boxes."""
    return float(iou_matrix([a], [b])[0, 0])


def match_boxes(
    source: Sequence[BoxLike], target: Sequence[BoxLike], min_iou: float = 0.3
) -> dict[int, tuple[int, float]]:
    """One-to-one matching of ``source`` to ``target`` boxes maximising the total IoU.

    Returns ``{source index: (target index, iou)}`` for pairs with IoU >= ``min_iou``. The
    Hungarian algorithm matters here: a greedy best-IoU pass can hand a big detector panel
    to the wrong VLM panel and leave the right one with nothing.
    """
    from scipy.optimize import linear_sum_assignment  # scipy loads in ~1 s: on demand

    if not len(source) or not len(target):
        return {}
    overlaps = iou_matrix(source, target)
    rows, cols = linear_sum_assignment(-overlaps)
    return {
        int(r): (int(c), float(overlaps[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if overlaps[r, c] >= min_iou
    }
