"""Shared helpers for the book reader tests: fixture location and tiny real images."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


@pytest.fixture
def comicbox() -> Path:
    folder = FIXTURES / "comicbox"
    if not folder.is_dir():
        pytest.skip(f"real-world fixtures missing: {folder} (see shared/fixtures/README.md)")
    return folder


@pytest.fixture
def rar_fixtures() -> Path:
    folder = FIXTURES / "rar"
    if not folder.is_dir():
        pytest.skip(f"RAR edge-case fixtures missing: {folder} (see shared/fixtures/README.md)")
    return folder


def _jpeg_bytes(width: int = 40, height: int = 60, seed: int = 0) -> bytes:
    """A real, small JPEG with noise so every seed gives different bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=80)
    return out.getvalue()


def _png_bytes(width: int = 30, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def jpeg_bytes() -> Callable[..., bytes]:
    """Factory: jpeg_bytes(width, height, seed) -> bytes."""
    return _jpeg_bytes


@pytest.fixture
def png_bytes() -> Callable[..., bytes]:
    """Factory: png_bytes(width, height) -> bytes."""
    return _png_bytes
