from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

# The shared real-world fixtures live next to the project checkout, never inside it.
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path} (see shared/fixtures/README.md)")
    return path


@pytest.fixture
def comicbox_dir() -> Path:
    return fixture_dir("comicbox")


@pytest.fixture
def calibre_library() -> Path:
    path = fixture_dir("calibre_library")
    if not (path / "metadata.db").is_file():
        pytest.skip(f"{path / 'metadata.db'} not found")
    return path


@pytest.fixture
def library_copy(calibre_library: Path, tmp_path: Path) -> Path:
    """A writable copy of the fixture library (the shared one is read-only)."""
    copy = tmp_path / "library"
    shutil.copytree(calibre_library, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return copy
