"""DataSpec v0.3 JSON: one file per page, the layout the original Closure work consumed.

The per-page layout keeps the v0.3 keys (``page_image_path``, ``page_size``, ``panels`` with
``panel_coords``, ``text`` {dialogue, narration, sfx} and ``characters``, ``reading_order``)
and adds the alignment fields under ``alignment`` so a reader can filter without the table.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

DATASPEC_VERSION = "0.3"


def to_dataspec_v03(row: dict[str, Any]) -> dict[str, Any]:
    """One DataSpec table row (``frame.row(i, named=True)``) as a v0.3 JSON document."""
    return {
        "version": DATASPEC_VERSION,
        "page_id": row["page_id"],
        "page_image_path": row["page_image_path"],
        "source": row["source"],
        "collection": row["collection"],
        "book": row["book"],
        "page_index": row["page_index"],
        "page_size": row["page_size"],
        "page_type": row.get("page_type"),
        "page_type_probability": row.get("page_type_probability"),
        "panels": [
            {
                "panel_id": f"{row['page_id']}-p{panel['order']:02d}",
                "panel_coords": panel["panel_coords"],
                "confidence": panel["confidence"],
                "order": panel["order"],
                "text": panel["text"],
                "characters": panel["characters"],
                "description": panel["description"],
            }
            for panel in row["panels"]
        ],
        "reading_order": row["reading_order"],
        "characters": row["characters"],
        "character_boxes": row["character_boxes"],
        "faces": row["faces"],
        "texts": row["texts"],
        "alignment": {
            key: row[key]
            for key in (
                "text_panel_count",
                "detector_panel_count",
                "panel_ratio",
                "text_coverage",
                "is_perfect_match",
                "alignment_method",
                "alignment_score",
                "is_aligned",
                "quality_score",
            )
        },
        "provenance": {
            "text_engine": row["text_engine"],
            "text_model": row["text_model"],
            "detector": row["detector"],
            "detector_version": row["detector_version"],
        },
    }


def export_dataspec_json(frame: pl.DataFrame, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``<out_dir>/<page_id>.json`` for every row; return the paths in row order.

    Each file is written to a temporary name and renamed into place, so a killed export never
    leaves a half-written JSON where a reader looks. Keys keep their order and floats their
    repr, so an unchanged frame gives byte-identical files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for row in frame.iter_rows(named=True):
        path = out / f"{row['page_id']}.json"
        text = json.dumps(to_dataspec_v03(row), indent=1, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
