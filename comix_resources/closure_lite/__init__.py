"""Closure Lite: multimodal fusion embeddings of comic panels and pages (plain Python/torch).

Modules, each importing torch or transformers only when used:
``config`` (settings, variants), ``features`` (panel geometry, ``PanelFeatures``),
``efficientnet_lite`` and ``encoders`` (frozen vision/text encoders, ``FeatureCache``,
``encode_pages``), ``model`` (``ClosureLite``), ``objectives`` (losses), ``train``,
``evaluate`` (metrics and gate) and ``inference`` (``embed_pages``, ``ClosureLitePredictor``).
A ``training_pages`` table from the demo library: ``comix_resources.demo.training_table``; the
benchmark: ``comix_resources.benchmarks.closure_lite``.
"""

from comix_resources.closure_lite.config import MAX_PANELS, VARIANTS, ClosureLiteConfig
from comix_resources.closure_lite.features import PanelSlot, page_slots

__all__ = ["MAX_PANELS", "VARIANTS", "ClosureLiteConfig", "PanelSlot", "page_slots"]
