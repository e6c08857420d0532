"""Settings of the page stream model (no torch here, so the package imports in milliseconds)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from comix_resources.page_classes import PAGE_CLASSES

FUSIONS = ("concat", "interleave")


@dataclass
class PageStreamConfig:
    """Model and training settings; ``to_json``/``from_json`` round-trip them (config.json).

    ``fusion``: ``concat`` gives one token per page (projected image, text and scalars
    concatenated and mixed by an MLP, CoSMo's "fusion"); ``interleave`` gives two tokens per
    page (image, then text, each with the page's scalars and position added, CoSMo's
    "multi-token"), and a page's logits come from the mean of its two output tokens.
    """

    vision_dim: int = 1280
    text_dim: int = 384
    scalar_dim: int = 11
    classes: tuple[str, ...] = PAGE_CLASSES
    fusion: str = "interleave"
    hidden_dim: int = 128
    num_heads: int = 4
    num_layers: int = 2
    dropout: float = 0.2
    # Whole-modality dropout per page during training, so that a page without OCR text (or
    # an unreadable image) is something the model has seen.
    modality_dropout: float = 0.1
    max_pages: int = 512
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    batch_size: int = 4  # books
    max_epochs: int = 80
    patience: int = 10
    val_fraction: float = 0.25
    # Inverse-frequency class weights in the loss: covers and back covers are one page a
    # book, story pages most of it.
    class_weighted: bool = True

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        self.classes = tuple(self.classes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PageStreamConfig:
        return cls(**json.loads(text))
