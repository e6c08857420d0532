"""Shared helpers for the detection tests."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture
def kumiko_dir() -> Path:
    folder = FIXTURES / "kumiko"
    if not (folder / "ground_truth.json").is_file():
        pytest.skip(f"kumiko fixtures missing: {folder} (see shared/fixtures/README.md)")
    return folder
