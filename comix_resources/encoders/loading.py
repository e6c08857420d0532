"""Page images for the encoders, read from the lake by lake-relative path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from comix_resources.lake import Lake


def lake_image_loader(lake: Lake) -> Callable[[str], Image.Image]:
    """Loader of lake-relative image paths (``page_image_path``, pages.parquet ``path``),
    through the one page loader (``comix_resources.images``: upright, transparency on white,
    RGB)."""
    from comix_resources.images import open_page

    def load(path: str) -> Image.Image:
        return open_page(lake.read_bytes(lake.path(path)))

    return load
