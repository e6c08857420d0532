"""Page features and the non-comic filter, on drawn pages and on the demo library."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from comix_resources.demo.library import CATALOG, render_book
from comix_resources.quality import QualityThresholds, classify_page, page_features

SIZE = (800, 1200)


def text_page() -> tuple[Image.Image, list[list[int]]]:
    """A book page: nothing but lines of black text, with their boxes as OCR would give."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(0)
    boxes = []
    for y in range(60, 1120, 26):
        words = " ".join("".join(rng.choice(list("abcdefghij"), 6)) for _ in range(11))
        draw.text((60, y), words, fill="black", font_size=18)
        boxes.append([int(v) for v in draw.textbbox((60, y), words, font_size=18)])
    return image, [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in boxes]


def comic_page(size: tuple[int, int] = SIZE) -> tuple[Image.Image, list[list[int]], int]:
    """Framed, coloured, drawn panels with a balloon in each."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(1)
    w, h = size
    boxes, panels = [], 0
    for y0 in range(30, h - 200, h // 3):
        for x0 in (30, w // 2 + 10):
            x1, y1 = x0 + w // 2 - 50, y0 + h // 3 - 30
            draw.rectangle([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(60, 220, 3)))
            for _ in range(40):  # strokes of the drawing
                pts = rng.integers([x0, y0], [x1, y1], size=(2, 2)).ravel().tolist()
                draw.line(pts, fill="black", width=3)
            draw.rectangle([x0, y0, x1, y1], outline="black", width=5)
            draw.ellipse([x0 + 20, y0 + 20, x0 + 180, y0 + 80], fill="white", outline="black")
            draw.text((x0 + 45, y0 + 40), "Look out!", fill="black", font_size=18)
            boxes.append([x0 + 45, y0 + 40, 90, 20])
            panels += 1
    return image, boxes, panels


def test_white_page_is_blank() -> None:
    features = page_features(Image.new("RGB", SIZE, "white"), [], 0)
    is_comic, flags, reasons = classify_page(features)
    assert (is_comic, flags) == (False, ["blank"])
    assert "contrast 0.000" in reasons["blank"]


def test_black_page_is_very_dark_not_blank() -> None:
    features = page_features(np.zeros((1200, 800), dtype=np.uint8), [], 0)
    assert classify_page(features)[:2] == (False, ["very_dark"])


def test_drawn_text_page_is_a_text_page() -> None:
    image, boxes = text_page()
    features = page_features(image, boxes, 0)
    assert features["text_area_fraction"] > 0.3
    is_comic, flags, reasons = classify_page(features)
    assert (is_comic, flags) == (False, ["text_page"])
    assert "0 panel(s)" in reasons["text_page"]
    # the same page cut into a real panel layout is no book page
    assert classify_page({**features, "panel_count": 4})[0]


def test_comic_page_passes() -> None:
    image, boxes, panels = comic_page()
    features = page_features(image, boxes, panels)
    assert features["orientation"] == "portrait" and features["panel_count"] == 6
    assert features["art_fraction"] > 0.3 and features["saturation"] > 0.2
    assert classify_page(features) == (True, [], {})


def test_landscape_comic_page_is_a_spread_but_still_comic() -> None:
    image, boxes, panels = comic_page((1600, 1200))
    features = page_features(image, boxes, panels)
    is_comic, flags, reasons = classify_page(features)
    assert is_comic and flags == ["spread"]
    assert features["orientation"] == "landscape"
    assert "1.33" in reasons["spread"]


def test_features_do_not_depend_on_scan_resolution() -> None:
    image, boxes, panels = comic_page()
    big = image.resize((1600, 2400))
    small = page_features(image, boxes, panels)
    large = page_features(big, [[2 * v for v in b] for b in boxes], panels)
    for key in ("mean_brightness", "ink_coverage", "text_area_fraction", "saturation"):
        assert large[key] == pytest.approx(small[key], abs=0.01)
    assert (large["width"], large["height"]) == (1600, 2400)


def test_thresholds_are_configurable() -> None:
    image, boxes = text_page()
    features = page_features(image, boxes, 0)
    strict = QualityThresholds(text_page_min_text_area=0.9)
    assert classify_page(features, strict) == (True, [], {})


@pytest.mark.slow
def test_demo_library_non_comic_pages_are_found() -> None:
    """Every page of the demo library (seed 7), with truth text boxes and panel counts."""
    tp = fp = fn = 0
    spreads = []
    for plan in CATALOG:
        book = render_book(plan, seed=7)
        for page, truth in zip(book.pages, book.truth_pages, strict=True):
            features = page_features(
                Image.open(io.BytesIO(page.data)),
                [t["bbox"] for t in truth["texts"]],
                len(truth["panels"]),
            )
            is_comic, flags, _ = classify_page(features)
            tp += not is_comic and not truth["is_comic"]
            fp += not is_comic and truth["is_comic"]
            fn += is_comic and not truth["is_comic"]
            spreads.append(("spread" in flags) == truth["is_spread"])
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.95
    assert all(spreads)


def test_a_page_that_cannot_be_decoded_is_judged_unreadable_and_the_rest_go_on(tmp_path) -> None:
    import polars as pl

    from comix_resources.expectations import page_quality_suite
    from comix_resources.lake import Lake
    from comix_resources.quality.table import page_quality_table
    from tests.hostile import damaged_scan_jpeg, drawn_page

    lake = Lake(tmp_path / "lake")
    files = {"b-0000": damaged_scan_jpeg(), "b-0001": drawn_page(1)}
    for page_id, data in files.items():
        lake.write_bytes(lake.path("s", "c", f"{page_id}.jpg"), data)
    pages = pl.DataFrame(
        {
            "page_id": list(files),
            "path": [f"s/c/{page_id}.jpg" for page_id in files],
            "width": [Image.open(io.BytesIO(data)).width for data in files.values()],
            "height": [Image.open(io.BytesIO(data)).height for data in files.values()],
            "status": ["ok", "ok"],
        }
    )
    panels = pl.DataFrame(
        schema={"page_id": pl.String, "category": pl.String, "bbox": pl.List(pl.Int64)}
    )
    text = pl.DataFrame(
        schema={
            "page_id": pl.String,
            "status": pl.String,
            "items": pl.List(pl.Struct({"bbox": pl.List(pl.Int64)})),
        }
    )
    table = page_quality_table(lake, pages, panels, text)
    rows = {row["page_id"]: row for row in table.iter_rows(named=True)}
    assert rows["b-0000"]["flags"] == ["unreadable"] and rows["b-0000"]["is_comic"] is False
    assert rows["b-0000"]["reasons"] == (
        "unreadable: s/c/b-0000.jpg: OSError: broken data stream when reading image file"
    )
    assert rows["b-0000"]["ink_coverage"] is None
    assert (
        rows["b-0001"]["ink_coverage"] is not None and "unreadable" not in rows["b-0001"]["flags"]
    )
    assert page_quality_suite(table).validate().success  # the blocking schema check passes
