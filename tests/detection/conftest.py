"""Shared helpers for the detection tests."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


@pytest.fixture
def kumiko_dir() -> Path:
    folder = FIXTURES / "kumiko"
    if not (folder / "ground_truth.json").is_file():
        pytest.skip(f"kumiko fixtures missing: {folder} (see shared/fixtures/README.md)")
    return folder
