"""Page images for the encoders, read from the lake by lake-relative path."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from comix_resources.lake import Lake


def lake_image_loader(lake: Lake) -> Callable[[str], Image.Image]:
    """Loader of lake-relative image paths (``page_image_path``, pages.parquet ``path``)."""
    from PIL import Image

    def load(path: str) -> Image.Image:
        with Image.open(io.BytesIO(lake.read_bytes(lake.path(path)))) as image:
            return image.convert("RGB")

    return load
