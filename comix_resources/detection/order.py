"""Reading order of panel boxes by recursive guillotine (XY) cuts.

A plain sort by (y, x) reads a tall panel on the left after the top one of
the panels stacked beside it.  Comic layouts are (almost always) built by
cutting the page into rows and rows into columns, so the order is recovered
by undoing those cuts: rows top to bottom, columns left to right (right to
left for manga), recursively.
"""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[int, int, int, int]

# A cut line may cross a box by this fraction of the smaller of the two boxes
# involved: detected boxes of neighbouring panels often overlap by a few pixels.
_OVERLAP_TOLERANCE = 0.1


def reading_order(boxes: Sequence[Box], rtl: bool = False) -> list[int]:
    """Indices of ``boxes`` (``(x, y, w, h)``) in reading order."""
    return _order(list(range(len(boxes))), list(boxes), rtl)


def _order(indices: list[int], boxes: list[Box], rtl: bool) -> list[int]:
    if len(indices) <= 1:
        return indices
    rows = _groups(indices, boxes, axis=1)
    if len(rows) > 1:
        return [i for row in rows for i in _order(row, boxes, rtl)]
    columns = _groups(indices, boxes, axis=0)
    if len(columns) > 1:
        if rtl:
            columns.reverse()
        return [i for column in columns for i in _order(column, boxes, rtl)]
    return _band_sort(indices, boxes, rtl)


def _groups(indices: list[int], boxes: list[Box], axis: int) -> list[list[int]]:
    """Split boxes along ``axis`` (0: x, 1: y) wherever a line crosses none of them.

    Sweeps the boxes by their start; a new group begins when a box starts after
    (or only slightly before) the furthest end seen so far.
    """
    ordered = sorted(indices, key=lambda i: (boxes[i][axis], boxes[i][axis + 2]))
    groups: list[list[int]] = []
    end = 0
    end_size = 0
    for i in ordered:
        start, size = boxes[i][axis], boxes[i][axis + 2]
        if not groups or end - start <= _OVERLAP_TOLERANCE * min(size, end_size):
            groups.append([i])
            end, end_size = start + size, size
        else:
            groups[-1].append(i)
            if start + size > end:
                end, end_size = start + size, size
    return groups


def _band_sort(indices: list[int], boxes: list[Box], rtl: bool) -> list[int]:
    """Fallback when no cut exists: rows by centre height, then x within a row."""
    by_centre = sorted(indices, key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    bands: list[list[int]] = []
    band_centre = 0.0
    for i in by_centre:
        centre = boxes[i][1] + boxes[i][3] / 2
        # Same band while the centre lies within half a box height of the band's first centre.
        if bands and centre - band_centre <= boxes[i][3] / 2:
            bands[-1].append(i)
        else:
            bands.append([i])
            band_centre = centre
    result: list[int] = []
    for band in bands:
        result.extend(sorted(band, key=lambda i: boxes[i][0] + boxes[i][2] / 2, reverse=rtl))
    return result
