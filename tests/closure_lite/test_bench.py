"""The training benchmark runs end to end on the demo library and reports what it prints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from comix_resources.benchmarks.closure_lite import run_training_benchmark
from comix_resources.closure_lite.evaluate import passes_gate

pytestmark = pytest.mark.slow


def test_benchmark_trains_evaluates_and_reports_a_variant(
    demo_library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "library").symlink_to(demo_library, target_is_directory=True)
    report = run_training_benchmark(tmp_path, variants=["base"], max_epochs=2, threads=2)

    assert report["pages"] > 0 and report["panels"] >= report["pages"]
    assert (tmp_path / "features.sqlite").is_file()
    base = report["variants"]["base"]
    assert base["epochs"] == 2 and base["best_epoch"] in (0, 1)
    assert base["seconds_per_epoch"] > 0 and base["embed_pages_per_second"] > 0
    metrics = base["metrics"]
    for name in ("closure_baseline", "retrieval_baseline", "next_panel_baseline"):
        assert 0.0 <= metrics[name] <= 1.0 and not math.isnan(metrics[name])
    assert (base["passes_gate"], base["reasons"]) == passes_gate(metrics)
    printed = capsys.readouterr().out
    assert f"encoded {report['pages']} pages" in printed
    assert "base: " in printed and f"frozen encoders {metrics['closure_baseline']:.3f}" in printed
