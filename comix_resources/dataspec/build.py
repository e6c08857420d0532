"""``coco_to_dataspec``: join the pages, panels and page_text lake tables into DataSpec rows.

Input tables (extra columns are ignored):

- ``pages``: ``page_id``, ``book_id``, ``page_index``, ``path``, ``width``, ``height`` and
  optionally ``status`` (only ``"ok"`` pages are kept: the others have no image).
- ``panels``: one row per detection: ``page_id``, ``category`` (``panel``, ``character``,
  ``face``; other categories are ignored), ``bbox`` ``[x, y, w, h]`` in page pixels,
  ``score``, ``order`` (reading order of panels, may be null for other categories) and
  optionally ``detector`` and ``detector_version``.
- ``page_text``: at most one row per page: ``page_id``, ``engine``, ``model``, ``status``
  (only ``"ok"`` rows are read), ``items`` and ``vlm``. ``items`` is a JSON string of a list,
  or a list of structs, each ``{text, kind, bbox: [x, y, w, h] | null, speaker,
  panel_number}`` (``TextItem.to_json``). ``vlm`` is the validated VLM answer as a JSON string
  (or dict), or null for OCR: its ``panels`` (``panel_number``, ``box_2d`` ``[ymin, xmin,
  ymax, xmax]`` on a 0-1000 grid, ``caption``, ``description``, ``speakers``) and
  ``characters`` are used.

Output: one row per page, sorted by ``page_id``, with the columns of ``DATASPEC_SCHEMA``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import polars as pl

from comix_resources.boxes import box_2d_to_xywh
from comix_resources.dataspec.align import (
    AlignmentConfig,
    PageAlignment,
    TextRef,
    VlmPanelRef,
    align_page,
    quality_score,
    text_coverage,
)
from comix_resources.tables import DATASPEC, TEXT_KINDS

DATASPEC_SCHEMA = pl.Schema(DATASPEC.schema)


def _decode(value: Any) -> Any:
    """JSON columns may arrive as strings (as written) or already decoded (structs, dicts)."""
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    return value


def _box(value: Any) -> list[int] | None:
    if value is None:
        return None
    box = [round(float(v)) for v in value]
    return box if len(box) == 4 else None


def _vlm_panels(vlm: dict[str, Any] | None, width: int, height: int) -> list[dict[str, Any]]:
    if not vlm:
        return []
    panels = []
    for panel in vlm.get("panels") or []:
        box = panel.get("box_2d")
        panels.append(
            {
                "panel_number": int(panel["panel_number"]),
                "bbox": box_2d_to_xywh(box, width, height) if box else None,
                "characters": [
                    s["character"] for s in panel.get("speakers") or [] if s.get("character")
                ],
                "description": panel.get("description") or None,
            }
        )
    return panels


def _character_names(vlm: dict[str, Any] | None) -> list[str]:
    """VLMs list characters as names or as objects; keep the names, once each."""
    names: list[str] = []
    for entry in (vlm or {}).get("characters") or []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def build_page(
    page: dict[str, Any],
    detections: list[dict[str, Any]],
    text_row: dict[str, Any] | None,
    source: str,
    collection: str,
    config: AlignmentConfig | None = None,
) -> dict[str, Any]:
    """One DataSpec row (a dict following ``DATASPEC_SCHEMA``) for one page."""
    width, height = int(page["width"]), int(page["height"])
    panel_rows = sorted(
        (d for d in detections if d["category"] == "panel"),
        key=lambda d: (
            d.get("order") if d.get("order") is not None else 1 << 30,
            d["bbox"][1],
            d["bbox"][0],
        ),
    )
    panel_boxes = [_box(d["bbox"]) for d in panel_rows]
    orders = [d["order"] if d.get("order") is not None else k for k, d in enumerate(panel_rows)]

    ok_text = text_row is not None and text_row.get("status", "ok") == "ok"
    items = [dict(i) for i in (_decode(text_row["items"]) or [])] if ok_text else []
    items = [i for i in items if str(i.get("text") or "").strip()]
    vlm = _decode(text_row.get("vlm")) if ok_text else None
    vlm_panels = _vlm_panels(vlm, width, height)

    alignment: PageAlignment = align_page(
        panel_boxes,  # type: ignore[arg-type]
        [TextRef(_box(i.get("bbox")), i.get("panel_number"), i.get("kind")) for i in items],
        [VlmPanelRef(p["panel_number"], p["bbox"]) for p in vlm_panels] if vlm_panels else None,
        config,
    )

    texts_by_panel: dict[int, dict[str, list[str]]] = defaultdict(
        lambda: {kind: [] for kind in TEXT_KINDS}
    )
    texts = []
    for item, panel, method, contain in zip(
        items,
        alignment.text_panel,
        alignment.text_method,
        alignment.text_containment,
        strict=True,
    ):
        if panel is not None:
            # title/body (page-level kinds) inside a panel read as narration there
            kind = item["kind"] if item["kind"] in TEXT_KINDS else "narration"
            texts_by_panel[panel][kind].append(str(item["text"]).strip())
        texts.append(
            {
                "text": str(item["text"]).strip(),
                "kind": item["kind"],
                "bbox": _box(item.get("bbox")),
                "speaker": item.get("speaker"),
                "panel_number": item.get("panel_number"),
                "panel": orders[panel] if panel is not None else None,
                "containment": contain,
                "method": method,
            }
        )

    characters_by_panel: dict[int, list[str]] = defaultdict(list)
    description_by_panel: dict[int, str | None] = {}
    # without a VLM answer, alignment assumes box-less panels for the reported panel numbers;
    # they carry no characters or description, hence the non-strict zip
    for vlm_panel, target in zip(vlm_panels, alignment.vlm_panel, strict=False):
        if target is not None:
            characters_by_panel[target] += vlm_panel["characters"]
            description_by_panel.setdefault(target, vlm_panel["description"])

    panels = [
        {
            "panel_coords": box,
            "confidence": float(row["score"]) if row.get("score") is not None else None,
            "order": orders[k],
            "text": texts_by_panel[k] if k in texts_by_panel else {t: [] for t in TEXT_KINDS},
            "characters": _unique(characters_by_panel.get(k, [])),
            "description": description_by_panel.get(k),
        }
        for k, (row, box) in enumerate(zip(panel_rows, panel_boxes, strict=True))
    ]
    coverage = text_coverage(alignment.text_panel, len(panel_rows))
    first = panel_rows[0] if panel_rows else (detections[0] if detections else {})
    return {
        "page_id": page["page_id"],
        "book": page["book_id"],
        "page_index": page["page_index"],
        "page_image_path": page["path"],
        "source": source,
        "collection": collection,
        "page_size": {"width": width, "height": height},
        "text_engine": text_row.get("engine") if text_row else None,
        "text_model": text_row.get("model") if text_row else None,
        "detector": first.get("detector"),
        "detector_version": first.get("detector_version"),
        "panels": panels,
        "reading_order": [p["order"] for p in panels],
        "characters": _character_names(vlm),
        "character_boxes": [
            {"bbox": _box(d["bbox"]), "score": d.get("score")}
            for d in detections
            if d["category"] == "character"
        ],
        "faces": [
            {"bbox": _box(d["bbox"]), "score": d.get("score")}
            for d in detections
            if d["category"] == "face"
        ],
        "texts": texts,
        "n_texts": len(texts),
        "n_texts_assigned": sum(t["panel"] is not None for t in texts),
        "text_panel_count": alignment.text_panel_count,
        "detector_panel_count": alignment.detector_panel_count,
        "panel_ratio": alignment.panel_ratio,
        "text_coverage": coverage,
        "is_perfect_match": alignment.is_perfect_match,
        "alignment_method": alignment.method,
        "alignment_score": alignment.score,
        "is_aligned": alignment.is_aligned,
        "quality_score": quality_score(alignment.panel_ratio, coverage, len(panel_rows)),
    }


def _rows_by_page(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        grouped[row["page_id"]].append(row)
    return grouped


def coco_to_dataspec(
    pages: pl.DataFrame,
    panels: pl.DataFrame,
    page_text: pl.DataFrame,
    source: str,
    collection: str,
    config: AlignmentConfig | None = None,
) -> pl.DataFrame:
    """Join panels and text per page into the DataSpec table (see the module docstring).

    Page types are not part of it: they come from a corpus-wide model and are joined where
    they are used (``tables.with_page_types``).
    """
    if "status" in pages.columns:
        pages = pages.filter(pl.col("status") == "ok")
    detections = _rows_by_page(panels)
    texts = _rows_by_page(page_text)
    rows = []
    for page in pages.sort("page_id").iter_rows(named=True):
        page_texts = texts.get(page["page_id"], [])
        # an "ok" answer wins over failed ones if a page was read more than once
        page_texts.sort(key=lambda r: r.get("status", "ok") != "ok")
        rows.append(
            build_page(
                page,
                detections.get(page["page_id"], []),
                page_texts[0] if page_texts else None,
                source,
                collection,
                config,
            )
        )
    return pl.DataFrame(rows, schema=DATASPEC_SCHEMA, orient="row")
