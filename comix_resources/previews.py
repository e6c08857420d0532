"""Small visual previews for Dagster metadata: a thumbnail grid as a markdown data URI."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import polars as pl
from PIL import Image

from comix_resources.images import open_page


def thumbnail_grid_png(
    images: Sequence[bytes], columns: int = 6, thumb_height: int = 150, gap: int = 4
) -> bytes | None:
    thumbs = []
    for data in images:
        try:
            image = open_page(data, max_side=thumb_height * 2)  # JPEG decodes reduced
            image.thumbnail((thumb_height * 2, thumb_height))
            thumbs.append(image)
        except Exception:
            continue
    if not thumbs:
        return None
    rows = [thumbs[i : i + columns] for i in range(0, len(thumbs), columns)]
    width = max(sum(t.width for t in row) + gap * (len(row) + 1) for row in rows)
    height = len(rows) * (thumb_height + gap) + gap
    grid = Image.new("RGB", (width, height), (40, 40, 40))
    y = gap
    for row in rows:
        x = gap
        for thumb in row:
            grid.paste(thumb, (x, y + (thumb_height - thumb.height) // 2))
            x += thumb.width + gap
        y += thumb_height + gap
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def markdown_image(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"_no {alt} to preview_"
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def markdown_table(frame: pl.DataFrame, limit: int = 20) -> str:
    """A markdown table of the first rows, cells shortened so the UI stays readable."""
    head = frame.head(limit)
    if head.is_empty():
        return "_empty_"

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 80 else text[:77] + "..."

    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + "---|" * len(head.columns),
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > limit:
        lines.append(f"\n_{frame.height - limit} more rows_")
    return "\n".join(lines)


def panels_overlay_png(
    image_bytes: bytes, boxes: Sequence[Sequence[int]], max_side: int = 360
) -> bytes | None:
    """A page thumbnail with its panels outlined and numbered in reading order."""
    from PIL import ImageDraw, ImageFont

    try:
        page = open_page(image_bytes)
    except Exception:  # a preview never fails a materialization
        return None
    scale = max_side / max(page.size)
    page = page.resize((max(1, int(page.width * scale)), max(1, int(page.height * scale))))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=18)
    for order, (x, y, w, h) in enumerate(boxes):
        rect = (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
        draw.rectangle(rect, outline=(230, 30, 60), width=3)
        draw.text((rect[0] + 6, rect[1] + 4), str(order + 1), fill=(230, 30, 60), font=font)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
