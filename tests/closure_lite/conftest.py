"""Small synthetic pages for Closure Lite tests: structured so that the objectives are learnable.

Each book has a latent style, each page a latent scene near its book's, each panel content
near its page's scene; vision and text features are fixed random projections of the panel
content. Layouts are row grids read left to right, top to bottom, listed in shuffled slots.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comix_resources.closure_lite.config import MAX_PANELS, ClosureLiteConfig
from comix_resources.closure_lite.features import (
    COMPOSITION_FEATURES,
    PanelFeatures,
    PanelSlot,
    composition_features,
)

VISION_DIM = 24
TEXT_DIM = 16


def grid_boxes(
    rng: np.random.Generator, width: int = 800, height: int = 1200
) -> list[tuple[int, int, int, int]]:
    """Panel boxes of a random row grid, in reading order."""
    rows = int(rng.integers(2, 4))
    heights = rng.dirichlet(np.ones(rows) * 3) * (height - 40 * (rows + 1))
    boxes, y = [], 40
    for h in heights:
        cols = int(rng.integers(1, 4))
        widths = rng.dirichlet(np.ones(cols) * 3) * (width - 40 * (cols + 1))
        x = 40
        for w in widths:
            boxes.append((int(x), int(y), int(w), int(h)))
            x += w + 40
        y += h + 40
    return boxes


def synthetic_features(
    n_books: int = 6, pages_per_book: int = 8, seed: int = 0, nuisance: float = 0.0
) -> PanelFeatures:
    """``nuisance``: scale of a per-panel factor in a few directions of both modalities that
    has nothing to do with the story (think framing or lettering style) and dominates the
    raw features, as generic factors dominate a frozen encoder's: a trained model can learn
    to look past it, an untrained mean of the features cannot."""
    rng = np.random.default_rng(seed)
    latent = 16
    to_vision = rng.normal(size=(latent, VISION_DIM))
    to_text = rng.normal(size=(latent, TEXT_DIM))
    # A few directions of each modality: a generic factor, not a second content.
    nuisance_to_vision = rng.normal(size=(3, VISION_DIM))
    nuisance_to_text = rng.normal(size=(3, TEXT_DIM))
    n = n_books * pages_per_book
    vision = np.zeros((n, MAX_PANELS, VISION_DIM), np.float32)
    text = np.zeros((n, MAX_PANELS, TEXT_DIM), np.float32)
    composition = np.zeros((n, MAX_PANELS, len(COMPOSITION_FEATURES)), np.float32)
    mask = np.zeros((n, MAX_PANELS), bool)
    order = np.full((n, MAX_PANELS), -1, np.int64)
    boxes = np.zeros((n, MAX_PANELS, 4), np.float32)
    books, pages = [], []
    for b in range(n_books):
        style = rng.normal(size=latent)
        for p in range(pages_per_book):
            i = b * pages_per_book + p
            scene = style + rng.normal(size=latent)
            page_boxes = grid_boxes(rng)
            slots_of = rng.permutation(len(page_boxes))  # reading rank k sits in slot slots_of[k]
            slots = [PanelSlot(page_boxes[k], k, "", k) for k in range(len(page_boxes))]
            comp = composition_features({"page_size": {"width": 800, "height": 1200}}, slots)
            for k, slot in enumerate(slots_of):
                content = scene + 0.5 * rng.normal(size=latent)
                panel_nuisance = nuisance * rng.normal(size=3)
                vision[i, slot] = (
                    content @ to_vision
                    + panel_nuisance @ nuisance_to_vision
                    + 0.1 * rng.normal(size=VISION_DIM)
                )
                if rng.random() < 0.8:  # some panels have no text
                    text[i, slot] = content @ to_text + panel_nuisance @ nuisance_to_text
                composition[i, slot] = comp[k]
                mask[i, slot] = True
                order[i, slot] = k
                boxes[i, slot] = page_boxes[k]
            books.append(f"book{b}")
            pages.append(f"book{b}-{p:04d}")
    return PanelFeatures(
        vision=vision,
        text=text,
        composition=composition,
        mask=mask,
        order=order,
        boxes=boxes,
        book_ids=np.asarray(books),
        page_ids=np.asarray(pages),
        page_type_ids=np.zeros(n, np.int64),
    )


def small_config(variant: str = "base", **overrides: object) -> ClosureLiteConfig:
    settings: dict = dict(
        variant=variant,
        vision_dim=VISION_DIM,
        text_dim=TEXT_DIM,
        hidden_dim=32,
        num_heads=2,
        context_layers=1,
        batch_size=16,
        max_epochs=25,
        patience=25,
        learning_rate=3e-3,
        val_fraction=0.34,
    )
    settings.update(overrides)
    return ClosureLiteConfig(**settings)


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Determinism (and fairness on the shared 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def features() -> PanelFeatures:
    return synthetic_features()
