"""The benchmark runs and reports sensible figures."""

from __future__ import annotations

from comix_resources.benchmarks import contour_speed as bench


def test_benchmark_reports_speed_and_accuracy(monkeypatch) -> None:
    original = bench.synthetic_pages
    monkeypatch.setattr(bench, "synthetic_pages", lambda: original(count=2))
    report = bench.run_detection_benchmark(None, repeats=1)
    assert report["synthetic_pages"] == 2
    assert report["synthetic_exact_count"] == 2
    assert report["detect_pages_per_s"] > 0
