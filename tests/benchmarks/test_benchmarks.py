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


def test_vlm_pages_per_second_rise_with_requests_in_flight_until_the_endpoint_limit() -> None:
    from comix_resources.benchmarks.vlm_concurrency import run_vlm_concurrency_benchmark

    report = run_vlm_concurrency_benchmark(
        (1, 4, 8), latency_s=0.4, server_capacity=4, pages_per_slot=4, retry_after_s=0.2
    )
    rows = {row["max_concurrency"]: row for row in report["rows"]}
    assert all(row["ok"] == row["pages"] for row in rows.values())
    assert rows[4]["pages_per_s"] > 2.5 * rows[1]["pages_per_s"]
    assert rows[4]["rate_limited_429"] == 0 and rows[4]["peak_in_flight"] == 4
    # beyond the endpoint's capacity: 429s, waited out, no page lost, the endpoint kept full
    assert rows[8]["rate_limited_429"] > 0 and rows[8]["peak_in_flight"] == 4
    assert 0.6 * rows[4]["pages_per_s"] < rows[8]["pages_per_s"] < 1.5 * rows[4]["pages_per_s"]


def test_pipeline_text_scores_count_lines_read_and_character_errors() -> None:
    import polars as pl

    from comix_resources.benchmarks.pipeline import BenchPage, text_scores

    page = BenchPage(
        "p",
        "b",
        0,
        b"",
        "png",
        100,
        100,
        True,
        [
            {"kind": "dialogue", "text": "HELLO THERE!", "bbox": [0, 0, 50, 20]},
            {"kind": "narration", "text": "Later...", "bbox": [0, 50, 50, 20]},
        ],
    )
    items = [
        {"text": "Hello", "bbox": [2, 2, 20, 8]},  # two OCR lines of one balloon, in order
        {"text": "there!", "bbox": [2, 11, 20, 8]},
        {"text": "noise", "bbox": [80, 80, 10, 10]},  # inside no truth text
    ]
    table = pl.DataFrame([{"page_id": "p", "items": items}])
    scores = text_scores([page], table)
    # the balloon is read exactly (case and spacing ignored); the caption is missed: all of
    # its 8 characters count as errors
    assert scores["text_lines"] == 2 and scores["text_line_recall"] == 0.5
    assert scores["cer"] == pytest.approx(8 / (12 + 8))


@pytest.mark.slow
def test_pipeline_bench_runs_both_sides_and_prints_ratios_and_quality(demo_library) -> None:
    from comix_resources.benchmarks.pipeline import (
        format_pipeline_report,
        run_pipeline_benchmark,
    )

    report = run_pipeline_benchmark(
        demo_library, demo_pages=3, science_pages=1, rust_pages=1, workers=(1,)
    )
    text = format_pipeline_report(report)
    for name in ("demo", "science", "rust_book"):
        runs = report["sets"][name]["runs"]
        assert set(runs) == {"before", "after, 1 worker(s)"}
        for side in runs.values():
            assert all(side[0]["stages"][s]["cpu_s"] > 0 for s in ("panels", "page_text"))
        assert f"## {name}" in text
    assert "ratio after, 1 worker(s) / before" in text and "line recall" in text
