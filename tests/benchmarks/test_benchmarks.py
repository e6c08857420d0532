"""The benchmarks run end to end on the real engines and print their figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from comix_resources.benchmarks import (
    format_report,
    run_accuracy_benchmark,
    run_kumiko_benchmark,
    run_speed_benchmark,
)


def test_kumiko_pages_every_panel_found_in_order(shared_fixtures: Path) -> None:
    folder = shared_fixtures / "kumiko"
    if not (folder / "ground_truth.json").exists():
        pytest.skip("kumiko ground truth missing")
    result = run_kumiko_benchmark(folder)
    pages = {p["page"]: p for p in result["pages"]}
    assert set(pages) == {"simple.png", "xkcd208.png"}
    for page in pages.values():
        assert page["found"] == page["truth"] == page["predicted"]
        assert page["order_ok"] and page["min_iou"] >= 0.8
    assert result["all_ok"]
    report = format_report(result)
    assert "xkcd208.png" in report and "5/8 (constant from the issue)" in report


def test_format_report_rejects_other_dicts() -> None:
    with pytest.raises(ValueError, match="not a benchmark result"):
        format_report({"figures": []})


@pytest.mark.slow
def test_accuracy_with_truth_text_boxes(demo_library: Path) -> None:
    """Contour detector, DataSpec and quality classifier on every demo page (OCR skipped)."""
    result = run_accuracy_benchmark(demo_library, ocr=False)
    assert result["pages"] == 178 and result["books"] == 19  # each book once, every page read
    assert "no OCR" in result["text_source"]
    for figure in result["figures"]:
        assert 0.0 <= figure["value"] <= 1.0, figure
    figures = {f["key"]: f["value"] for f in result["figures"]}
    # the detector finds the panels of comic pages: a real figure, not a placeholder
    assert figures["panel_f1"] >= 0.9
    assert result["panels"]["recall"] >= 0.95
    assert figures["reading_order"] >= 0.9
    # with truth boxes as text, alignment is exact wherever the panels are right
    assert figures["text_to_panel"] >= 0.95
    # whole-page detections on covers are not false panels; framed adverts still are
    assert result["panelless_pages"]["whole_page_detections"] >= 1
    report = format_report(result)
    assert "panel F1 @ IoU 0.5" in report and ">= 0.95" in report


@pytest.mark.slow
def test_speed_reports_pages_per_second(demo_library: Path) -> None:
    result = run_speed_benchmark(demo_library, pages=2, fasterrcnn=False, ocr=False, synthetic=1)
    names = {row["name"] for row in result["measurements"]}
    assert names == {"contour, demo pages", "contour, 2000x3000 synthetic"}
    assert all(row["pages_per_s"] > 0 for row in result["measurements"])
    one_core = [r for r in result["measurements"] if r["threads"] == 1 and r.get("ratio")]
    assert one_core and "Kumiko" in one_core[0]["ratio"]
    assert "constant from the issue" in format_report(result)
