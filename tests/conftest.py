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


@pytest.fixture(scope="session")
def two_book_library(shared_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-tree source with one collection of two real books (a 5-page CBZ and a 4-page
    PDF from comicbox's test files): small enough that a whole collection job takes seconds."""
    import shutil

    root = tmp_path_factory.mktemp("two-books") / "amazon"
    collection = root / "Golden Age"
    collection.mkdir(parents=True)
    for name in ("Captain Science #001.cbz", "test_pdf.pdf"):
        shutil.copy(shared_fixtures / "comicbox" / name, collection / name)
    return root


@pytest.fixture
def two_book_env(tmp_path: Path, two_book_library: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """COMIX_* variables with only the amazon source, on the two-book library; the home."""
    home = tmp_path / "comix-home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(two_book_library))
    for variable in ("COMIX_DARKHORSE_ROOT", "COMIX_CALIBRE_LIBRARY", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh COMIX_HOME and no source configured: enough to load the definitions."""
    home = tmp_path / "comix-home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    for variable in (
        "COMIX_AMAZON_ROOT",
        "COMIX_DARKHORSE_ROOT",
        "COMIX_CALIBRE_LIBRARY",
        "COMIX_CALIBRE_COLLECTION_BY",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(variable, raising=False)
    return home
