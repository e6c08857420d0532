"""Text-to-panel alignment: geometry first, VLM panel matching next, panel counts last.

The original work aligned VLM text with detector panels only where both reported the same
number of panels (23.5 % of pages). Here a text line that carries a box is placed by where it
lies, so panel counts stop mattering:

- ``geometry``: each text box goes to the panel that contains most of it (intersection over
  the text's own area). A text cannot be split and a panel holds many texts, so this is an
  argmax per text, not a one-to-one matching. A text that lies (almost) outside every panel
  is page-level text (titles, credits, prose) and stays unassigned.
- ``vlm_panels_iou``: a VLM reports panels with their own ``box_2d`` and puts text (speakers,
  captions) in them without boxes. Its panels are matched one-to-one to the detector panels
  by IoU with the Hungarian algorithm, and the text follows its panel.
- ``count``: no boxes at all. VLM panel *k* (its numbering) is paired with detector panel *k*
  in reading order, which is only trustworthy when both report the same number of panels.
- ``none``: the page has no text, or none of it could be placed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from comix_resources.boxes import (
    BoxLike,
    centre_distance_matrix,
    containment_matrix,
    iou_matrix,
    match_boxes,
)

GEOMETRY = "geometry"
VLM_PANELS_IOU = "vlm_panels_iou"
COUNT = "count"
NONE = "none"
# When a page mixes methods, the page is named after its most used one; ties go to the
# method that deserves more trust.
_METHOD_PRIORITY = (GEOMETRY, VLM_PANELS_IOU, COUNT)


@dataclass(frozen=True)
class AlignmentConfig:
    min_containment: float = 0.5  # a text belongs to a panel holding at least half of it
    outside_max: float = 0.1  # at most this much inside any panel: page-level text
    min_panel_iou: float = 0.3  # VLM boxes are rough; below this a match is a guess
    aligned_share: float = 0.9  # share of texts placed reliably for the page to count
    # Speech belongs in a panel: a balloon outside every panel means the detector missed the
    # panel, so it must not count as cleanly placed page-level text (titles, credits, prose).
    in_panel_kinds: tuple[str, ...] = ("dialogue",)


@dataclass(frozen=True)
class Assignment:
    """Where each text went. ``panel[i]`` indexes the panels given, or is None.

    ``containment[i]`` is the best containment of text *i* in any panel (None without a box);
    ``resolved[i]`` says the decision is clear-cut: assigned with at least ``min_containment``,
    or outside every panel with at most ``outside_max`` (texts in between are ambiguous).
    """

    panel: tuple[int | None, ...]
    containment: tuple[float | None, ...]
    resolved: tuple[bool, ...]

    @property
    def n_boxed(self) -> int:
        return sum(c is not None for c in self.containment)

    @property
    def n_assigned(self) -> int:
        return sum(p is not None for p in self.panel)


def assign_text_to_panels(
    panels: Sequence[BoxLike],
    texts: Sequence[BoxLike | None],
    config: AlignmentConfig | None = None,
) -> Assignment:
    """Assign each text box to the panel that contains most of it (see the module docstring).

    Ties in containment (nested or overlapping detections both holding the whole text) go to
    the panel with the higher IoU, i.e. the tighter one, then to the nearer centre.
    """
    config = config or AlignmentConfig()
    boxed = [i for i, t in enumerate(texts) if t is not None]
    panel_of: list[int | None] = [None] * len(texts)
    best: list[float | None] = [None] * len(texts)
    resolved = [False] * len(texts)
    if boxed:
        boxes = [texts[i] for i in boxed]
        contain = containment_matrix(boxes, panels)  # type: ignore[arg-type]
        iou = iou_matrix(boxes, panels)  # type: ignore[arg-type]
        dist = centre_distance_matrix(boxes, panels)  # type: ignore[arg-type]
        for row, i in enumerate(boxed):
            top = float(contain[row].max()) if len(panels) else 0.0
            best[i] = top
            if top >= config.min_containment:
                tied = np.flatnonzero(contain[row] >= top - 1e-9)
                panel_of[i] = int(min(tied, key=lambda j: (-iou[row, j], dist[row, j])))
                resolved[i] = True
            else:
                resolved[i] = top <= config.outside_max
    return Assignment(tuple(panel_of), tuple(best), tuple(resolved))


def count_pairing(n_source: int, n_target: int) -> dict[int, int]:
    """Pair source panel *i* with target panel *i* (both in reading order).

    Pairs are made even when the counts differ; callers must not trust them then.
    """
    return {i: i for i in range(min(n_source, n_target))}


@dataclass(frozen=True)
class TextRef:
    """What alignment needs of a text item: its box (pixels), the VLM's panel number, kind."""

    bbox: BoxLike | None
    panel_number: int | None = None
    kind: str | None = None


@dataclass(frozen=True)
class VlmPanelRef:
    """What alignment needs of a VLM panel: its number and its box in pixels (or None)."""

    panel_number: int
    bbox: BoxLike | None


@dataclass(frozen=True)
class PageAlignment:
    """The alignment of one page.

    ``text_panel[i]`` indexes the detector panels (reading order) or is None;
    ``vlm_panel[k]`` is the detector panel of the *k*-th VLM panel as given, or None.
    """

    text_panel: tuple[int | None, ...]
    text_method: tuple[str | None, ...]
    text_containment: tuple[float | None, ...]
    vlm_panel: tuple[int | None, ...]
    method: str
    score: float | None
    text_panel_count: int
    detector_panel_count: int
    is_perfect_match: bool
    is_aligned: bool

    @property
    def panel_ratio(self) -> float | None:
        if self.detector_panel_count == 0:
            return None
        return self.text_panel_count / self.detector_panel_count


def _map_vlm_panels(
    detector: Sequence[BoxLike], vlm: Sequence[VlmPanelRef], config: AlignmentConfig
) -> tuple[str, list[int | None], list[float]]:
    """Detector panel and confidence (0..1) of each VLM panel, and the method used."""
    if vlm and all(p.bbox is not None for p in vlm):
        matches = match_boxes([p.bbox for p in vlm], detector, config.min_panel_iou)  # type: ignore[misc]
        target = [matches[k][0] if k in matches else None for k in range(len(vlm))]
        confidence = [matches[k][1] if k in matches else 0.0 for k in range(len(vlm))]
        return VLM_PANELS_IOU, target, confidence
    by_number = sorted(range(len(vlm)), key=lambda k: vlm[k].panel_number)
    pairs = count_pairing(len(vlm), len(detector))
    equal = len(vlm) == len(detector)
    target: list[int | None] = [None] * len(vlm)
    confidence = [0.0] * len(vlm)
    for rank, k in enumerate(by_number):
        if rank in pairs:
            target[k] = pairs[rank]
            confidence[k] = 1.0 if equal else 0.0
    return COUNT, target, confidence


def align_page(
    panels: Sequence[BoxLike],
    texts: Sequence[TextRef],
    vlm_panels: Sequence[VlmPanelRef] | None = None,
    config: AlignmentConfig | None = None,
) -> PageAlignment:
    """Align a page's texts with its detector ``panels`` (given in reading order).

    Texts with a box are placed by geometry; texts without a box follow their VLM panel
    number, through ``vlm_panels`` matched by IoU when those carry boxes, by count otherwise.
    When texts carry panel numbers but no VLM panels are given, panels ``1..max(number)`` are
    assumed (all without boxes).

    Definitions (documented in the package docstring):

    - ``text_panel_count``: the VLM's panel count when VLM panels exist (the original
      definition); otherwise the number of detector panels that received text.
    - ``is_perfect_match``: ``text_panel_count == detector_panel_count``.
    - ``is_aligned``: the assignment can be trusted: at least ``aligned_share`` of the texts
      were placed reliably (clear-cut geometry, except dialogue left outside every panel; a
      VLM panel matched by IoU; or count pairing with equal counts); a page without text is
      aligned when it has panels.
    """
    config = config or AlignmentConfig()
    numbers = [t.panel_number for t in texts if t.bbox is None and t.panel_number is not None]
    if vlm_panels is None and numbers:
        vlm_panels = [VlmPanelRef(k, None) for k in range(1, max(numbers) + 1)]
    vlm_panels = list(vlm_panels or [])
    vlm_method, vlm_target, vlm_conf = _map_vlm_panels(panels, vlm_panels, config)
    number_to_vlm = {p.panel_number: k for k, p in reversed(list(enumerate(vlm_panels)))}

    geo = assign_text_to_panels(panels, [t.bbox for t in texts], config)
    text_panel: list[int | None] = list(geo.panel)
    method: list[str | None] = [GEOMETRY if t.bbox is not None else None for t in texts]
    scores: list[float] = []
    reliable: list[bool] = []
    for i, t in enumerate(texts):
        if t.bbox is not None:
            contain = geo.containment[i] or 0.0
            scores.append(contain if text_panel[i] is not None else 1.0 - contain)
            stray = text_panel[i] is None and t.kind in config.in_panel_kinds
            reliable.append(geo.resolved[i] and not stray)
            continue
        k = number_to_vlm.get(t.panel_number) if t.panel_number is not None else None
        if k is None or vlm_target[k] is None:
            scores.append(0.0)
            reliable.append(False)
            continue
        text_panel[i] = vlm_target[k]
        method[i] = vlm_method
        scores.append(vlm_conf[k])
        reliable.append(vlm_conf[k] > 0.0)

    used = Counter(m for m in method if m is not None)
    page_method = (
        max(_METHOD_PRIORITY, key=lambda m: (used[m], -_METHOD_PRIORITY.index(m))) if used else NONE
    )
    if vlm_panels:
        text_panel_count = len(vlm_panels)
    else:
        text_panel_count = len({p for p in text_panel if p is not None})
    # a page without text has nothing to misplace; it is usable when it has panels
    aligned = sum(reliable) >= config.aligned_share * len(texts) if texts else len(panels) > 0
    return PageAlignment(
        text_panel=tuple(text_panel),
        text_method=tuple(method),
        text_containment=geo.containment,
        vlm_panel=tuple(vlm_target),
        method=page_method,
        score=float(np.mean(scores)) if scores else None,
        text_panel_count=text_panel_count,
        detector_panel_count=len(panels),
        is_perfect_match=text_panel_count == len(panels),
        is_aligned=aligned,
    )


def text_coverage(text_panel: Sequence[int | None], n_panels: int) -> float:
    """Share of detector panels that received at least one text (0 without panels)."""
    if n_panels == 0:
        return 0.0
    return len({p for p in text_panel if p is not None}) / n_panels


def quality_score(panel_ratio: float | None, coverage: float, n_panels: int) -> int:
    """The original DataSpec quality score, 0..4.

    +2 when the panel ratio (text panels / detector panels) is within 0.9-1.1, else +1 within
    0.8-1.2; +1 when at least 80 % of panels carry text; +1 for 1-15 detector panels.
    """
    score = 0
    if panel_ratio is not None:
        if 0.9 <= panel_ratio <= 1.1:
            score += 2
        elif 0.8 <= panel_ratio <= 1.2:
            score += 1
    if coverage >= 0.8:
        score += 1
    if 1 <= n_panels <= 15:
        score += 1
    return score
