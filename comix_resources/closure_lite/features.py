"""Per-panel inputs of Closure Lite: panel slots of a page, composition features, and the
``PanelFeatures`` arrays that training, evaluation and inference share (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.closure_lite.config import MAX_PANELS, PAGE_TYPES
from comix_resources.page_classes import normalise_page_class

COMPOSITION_FEATURES = (
    "x",
    "y",
    "width",
    "height",
    "centre_x",
    "centre_y",
    "log_aspect",
    "relative_area",
    "characters",
    "faces",
    "texts",
    "text_area",
    "page_panels",
)
# Counts are divided by this so that typical values stay within [0, 1] like the geometry.
_COUNT_SCALE = 4.0


@dataclass
class PanelSlot:
    """One panel of a page as the model sees it."""

    box: tuple[int, int, int, int]
    order: int  # rank in reading order among the kept panels, 0..n-1
    text: str
    panel_order: int | None  # the table's ``order``, which texts' ``panel`` refers to


def page_slots(
    row: Mapping[str, Any], max_panels: int = MAX_PANELS, whole_page: bool = False
) -> list[PanelSlot]:
    """The page's panels (at most ``max_panels``, the first ones in reading order).

    Slots keep the table's panel order; the model is permutation-equivariant (no slot
    position input), so this order cannot leak the reading order to it. ``whole_page``: a
    page without panels (a text page, a blank) becomes one panel covering the page with all
    its text, so that it still gets an embedding of what it shows.
    """
    panels = [p for p in (row.get("panels") or []) if _valid_box(p.get("panel_coords"))]
    size = row.get("page_size") or {}
    if not panels and whole_page and size.get("width") and size.get("height"):
        text = " ".join(t.get("text") or "" for t in row.get("texts") or []).strip()
        return [PanelSlot((0, 0, int(size["width"]), int(size["height"])), 0, text, None)]
    ranked = sorted(
        range(len(panels)),
        key=lambda i: (panels[i].get("order") is None, panels[i].get("order") or 0, i),
    )
    keep = sorted(ranked[:max_panels])
    slots = []
    for rank_index in keep:
        panel = panels[rank_index]
        text = panel.get("text") or {}
        lines = [line for kind in ("narration", "dialogue", "sfx") for line in text.get(kind) or []]
        order = panel.get("order")
        slots.append(
            PanelSlot(
                box=tuple(int(v) for v in panel["panel_coords"][:4]),  # type: ignore[arg-type]
                order=int(order) if order is not None else ranked.index(rank_index),
                text=" ".join(lines),
                panel_order=order,
            )
        )
    # Orders renumbered to 0..n-1 so that "next panel" is order + 1 even after truncation.
    for new, slot in enumerate(sorted(slots, key=lambda s: s.order)):
        slot.order = new
    return slots


def _valid_box(box: Sequence[int] | None) -> bool:
    return box is not None and len(box) >= 4 and box[2] > 0 and box[3] > 0


def _inside(point: tuple[float, float], box: Sequence[float]) -> bool:
    x, y, w, h = box[:4]
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def composition_features(row: Mapping[str, Any], slots: Sequence[PanelSlot]) -> np.ndarray:
    """(len(slots), len(COMPOSITION_FEATURES)) geometry and content statistics per panel.

    Character, face and text boxes count for the panel that holds their centre; texts
    assigned to a panel by the alignment (``panel`` = its order) count there too.
    """
    size = row.get("page_size") or {}
    page_w = float(size.get("width") or max((s.box[0] + s.box[2] for s in slots), default=1))
    page_h = float(size.get("height") or max((s.box[1] + s.box[3] for s in slots), default=1))
    chars = [d["bbox"] for d in row.get("character_boxes") or [] if _valid_box(d.get("bbox"))]
    faces = [d["bbox"] for d in row.get("faces") or [] if _valid_box(d.get("bbox"))]
    texts = row.get("texts") or []
    panels = [p for p in (row.get("panels") or []) if _valid_box(p.get("panel_coords"))]
    named = {tuple(p["panel_coords"][:4]): len(p.get("characters") or []) for p in panels}
    out = np.zeros((len(slots), len(COMPOSITION_FEATURES)), dtype=np.float32)
    for i, slot in enumerate(slots):
        x, y, w, h = slot.box
        in_panel = [
            t
            for t in texts
            if (t.get("panel") is not None and t.get("panel") == slot.panel_order)
            or (
                t.get("panel") is None
                and _valid_box(t.get("bbox"))
                and _inside(_centre(t["bbox"]), slot.box)
            )
        ]
        text_area = sum(t["bbox"][2] * t["bbox"][3] for t in in_panel if _valid_box(t.get("bbox")))
        n_chars = max(named.get(slot.box, 0), sum(_inside(_centre(b), slot.box) for b in chars))
        out[i] = (
            x / page_w,
            y / page_h,
            w / page_w,
            h / page_h,
            (x + w / 2) / page_w,
            (y + h / 2) / page_h,
            max(-2.0, min(2.0, math.log(w / h))),
            w * h / (page_w * page_h),
            n_chars / _COUNT_SCALE,
            sum(_inside(_centre(b), slot.box) for b in faces) / _COUNT_SCALE,
            len(in_panel) / _COUNT_SCALE,
            min(1.0, text_area / (w * h)),
            len(slots) / MAX_PANELS,
        )
    return out


def page_type_id(name: str | None) -> int:
    """Id of a page-type name in ``PAGE_TYPES`` (other spellings too); 0 when unknown."""
    canonical = normalise_page_class(name)
    return PAGE_TYPES.index(canonical) if canonical else 0


@dataclass
class PanelFeatures:
    """Encoder outputs and layout of N pages, padded to ``MAX_PANELS`` panel slots."""

    vision: np.ndarray  # (N, P, Dv) float32
    text: np.ndarray  # (N, P, Dt) float32, zeros for panels without text
    composition: np.ndarray  # (N, P, C) float32
    mask: np.ndarray  # (N, P) bool, True for real panels
    order: np.ndarray  # (N, P) int64 reading-order rank, -1 for padding
    boxes: np.ndarray  # (N, P, 4) float32 panel [x, y, w, h] in page pixels
    book_ids: np.ndarray  # (N,) str
    page_ids: np.ndarray  # (N,) str
    page_type_ids: np.ndarray  # (N,) int64, 0 = unknown

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> PanelFeatures:
        index = np.asarray(index, dtype=np.int64)
        return PanelFeatures(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def model_inputs(self) -> dict[str, np.ndarray]:
        """The arrays the model reads (what ``ClosureLitePredictor.predict`` takes)."""
        return {
            "vision": self.vision,
            "text": self.text,
            "composition": self.composition,
            "mask": self.mask,
            "page_type": self.page_type_ids,
        }

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | Path) -> PanelFeatures:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})
