"""Shared fixtures: the read-only real-world fixtures beside the project and a demo library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES} (expected beside the project)")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library, generated once per test session (read-only by convention)."""
    from comix_resources.demo import generate_demo_library

    root = tmp_path_factory.mktemp("demo-library")
    generate_demo_library(root, seed=7)
    return root


@pytest.fixture
def comix_env(tmp_path: Path, demo_library: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """COMIX_* variables pointing at the demo library and a fresh COMIX_HOME; returns the home."""
    home = tmp_path / "comix-home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(demo_library / "amazon"))
    monkeypatch.setenv("COMIX_DARKHORSE_ROOT", str(demo_library / "darkhorse"))
    monkeypatch.setenv("COMIX_CALIBRE_LIBRARY", str(demo_library / "calibre"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    os.environ.pop("COMIX_CALIBRE_COLLECTION_BY", None)
    return home
