"""Frozen encoders shared by the models: text, vision, and their content-keyed feature cache.

Closure Lite and the page-stream model both read page art and text through these
(``TextEncoder``: all-MiniLM-L6-v2 from PyPI by default; ``VisionEncoder``: EfficientNet-Lite0
from PyPI by default; either a hub id or local path instead). ``open_encoders(settings)``
builds both with their cache and torch's thread count, which is all a caller needs:

    with open_encoders(EncoderSettings(cache_path=".../features.sqlite")) as encoders:
        vectors = cached_encode(encoders.text, {"k": "a caption"}, encoders.cache)

torch and transformers load when an encoder is built, not on import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from comix_resources.encoders.cache import FeatureCache, cached_encode
from comix_resources.encoders.frozen import (
    Encoder,
    TextEncoder,
    VisionEncoder,
    efficientnet_array_pixels,
    efficientnet_pixels,
    pretrained_efficientnet_lite0,
)
from comix_resources.encoders.loading import lake_image_loader

__all__ = [
    "Encoder",
    "EncoderSettings",
    "FeatureCache",
    "OpenEncoders",
    "TextEncoder",
    "VisionEncoder",
    "cached_encode",
    "efficientnet_array_pixels",
    "efficientnet_pixels",
    "lake_image_loader",
    "open_encoders",
    "pretrained_efficientnet_lite0",
]


@dataclass(frozen=True)
class EncoderSettings:
    """Which encoders, where they run, and where their outputs are cached."""

    text_model: str = ""  # hub id or local path; "" = all-MiniLM-L6-v2 from PyPI
    vision_model: str = ""  # hub id or local path; "" = EfficientNet-Lite0 from PyPI
    device: str = "cpu"
    threads: int = 2  # torch CPU threads
    cache_path: str | None = None  # SQLite file or database URL; None keeps it in memory
    cache_name: str = "features"  # the cache's table in a shared database


@dataclass(frozen=True)
class OpenEncoders:
    text: Encoder
    vision: Encoder
    cache: FeatureCache


@contextmanager
def open_encoders(
    settings: EncoderSettings, vision: Encoder | None = None
) -> Iterator[OpenEncoders]:
    """Both encoders and the cache, closed on exit; ``vision`` replaces the configured vision
    encoder (a fine-tuned model's own, under its own cache id)."""
    import torch

    torch.set_num_threads(settings.threads)
    cache = FeatureCache(settings.cache_path, settings.cache_name)
    try:
        yield OpenEncoders(
            text=TextEncoder(settings.text_model or None, device=settings.device),
            vision=vision or VisionEncoder(settings.vision_model or None, device=settings.device),
            cache=cache,
        )
    finally:
        cache.close()
