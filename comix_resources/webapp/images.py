"""Page images by id (downscaled JPEGs, cached in memory and on disk) and upload checks."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
import warnings
from collections import OrderedDict
from pathlib import Path

from PIL import Image

from comix_resources.images import open_page
from comix_resources.lake import Lake

# Long side in pixels: "thumb" for the result grid (2x a ~220 px card), "large" for details.
SIZES: dict[str, int] = {"thumb": 480, "large": 1600}
JPEG_QUALITY = 82


class ImageRejected(ValueError):
    """An upload that is not an image, or too large: the message is safe to show."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """A decoded RGB image from uploaded bytes, refusing non-images and pixel bombs."""
    if not data:
        raise ImageRejected("the upload is empty")
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # from the header, before any pixel is decoded
            if width * height > max_pixels:
                raise ImageRejected(
                    f"the image has {width}x{height} pixels, more than the {max_pixels:,} allowed",
                    status=413,
                )
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"the image is too large: {error}", status=413) from error
    except Exception as error:  # PIL raises many types for broken files
        raise ImageRejected("the upload is not a readable image") from error
    return image.convert("RGB")


def downscale_jpeg(data: bytes, long_side: int) -> bytes:
    """JPEG bytes of the image with its long side at most ``long_side`` pixels."""
    # JPEG decodes at 1/2, 1/4 or 1/8 scale for almost nothing: the loader does that first
    image = open_page(data, max_side=long_side)
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


class ThumbnailCache:
    """Downscaled page images by (page id, size): an in-memory LRU over an optional disk cache.

    Page ids are content-derived (book bytes + page index), so a cached file never goes stale.
    Disk file names are hashes of the id: no id can name a path.
    """

    def __init__(self, lake: Lake, cache_dir: Path | None = None, memory_items: int = 512) -> None:
        self.lake = lake
        self.cache_dir = cache_dir
        self.memory_items = memory_items
        self._memory: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _disk_path(self, page_id: str, size: str) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(page_id.encode()).hexdigest()
        return self.cache_dir / size / digest[:2] / f"{digest}.jpg"

    def get(self, page_id: str, image_path: str, size: str) -> bytes:
        key = (page_id, size)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        disk = self._disk_path(page_id, size)
        if disk is not None and disk.is_file():
            data = disk.read_bytes()
        else:
            data = downscale_jpeg(self.lake.read_bytes(self.resolve(image_path)), SIZES[size])
            if disk is not None:
                disk.parent.mkdir(parents=True, exist_ok=True)
                tmp = disk.with_name(f".tmp-{uuid.uuid4().hex}-{disk.name}")
                tmp.write_bytes(data)
                os.replace(tmp, disk)
        with self._lock:
            self._memory[key] = data
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
        return data

    def resolve(self, image_path: str) -> str:
        """The lake path of a catalog ``image_path``; FileNotFoundError if it leaves the lake."""
        try:
            path = self.lake.path(image_path)
        except ValueError as error:
            raise FileNotFoundError(image_path) from error
        if self.lake.is_local:
            # A link inside the lake could still point out of it: compare real paths.
            real = os.path.realpath(path)
            if not real.startswith(os.path.realpath(self.lake.root) + os.sep):
                raise FileNotFoundError(image_path)
        return path
