"""What Closure Lite and the page-stream model share: early stopping and model folders.

A model folder holds ``config.json`` (the model's config as JSON) and ``state_dict.pt``
(weights only, so loading runs no pickled code). torch is imported inside the functions.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "state_dict.pt"


class EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss; ``update`` says stop
    once ``patience`` epochs have passed without improvement."""

    def __init__(self, model: Any, patience: int) -> None:
        self.model = model
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_state = copy.deepcopy(model.state_dict())
        self.stopped_early = False

    def update(self, epoch: int, val_loss: float) -> bool:
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        elif epoch - self.best_epoch >= self.patience:
            self.stopped_early = True
        return self.stopped_early


def save_model_folder(path: str | Path, config_json: str, model: Any) -> None:
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_FILE).write_text(config_json)
    torch.save(model.state_dict(), path / WEIGHTS_FILE)


def read_model_folder(path: str | Path) -> tuple[str, dict[str, Any]]:
    """``(config JSON, state dict)`` of a model folder, loaded on the CPU."""
    import torch

    path = Path(path)
    state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    return (path / CONFIG_FILE).read_text(), state
