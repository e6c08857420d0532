"""Embedding pages with a trained Closure Lite, and a predictor to log with MLflow pyfunc."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from comix_resources.closure_lite.config import MAX_PANELS, ClosureLiteConfig
from comix_resources.closure_lite.features import PanelFeatures, page_slots
from comix_resources.torch_models import read_model_folder, save_model_folder

if TYPE_CHECKING:
    import polars as pl


def embed_pages(model: Any, features: PanelFeatures, batch_size: int = 64) -> dict[str, np.ndarray]:
    """What the Zarr store keeps per page, as numpy arrays (N pages, 12 panel slots):

    page_embeddings (N, 384), panel_embeddings (N, 12, 384) (zeros on padding),
    attention_weights (N, 12) (page pooling weights, 0 on padding), reading_order (N, 12)
    (slot indices in predicted reading order, -1 after the last panel), panel_coordinates
    (N, 12, 4) ([x, y, w, h] in page pixels), panel_mask (N, 12).
    """
    import torch

    from comix_resources.closure_lite.model import decode_reading_order
    from comix_resources.closure_lite.tensors import to_tensors

    model.eval()
    data = to_tensors(features)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("page", "panels", "attention", "order")}
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            batch = {k: v[start : start + batch_size] for k, v in data.items()}
            out = model(
                batch["vision"],
                batch["text"],
                batch["composition"],
                batch["mask"],
                batch["page_type"],
            )
            next_scores, start_scores = model.next_scores(
                out.panels, batch["composition"], batch["mask"]
            )
            parts["page"].append(out.page.numpy())
            parts["panels"].append(out.panels.numpy())
            parts["attention"].append(out.attention.numpy())
            parts["order"].append(
                decode_reading_order(next_scores, start_scores, batch["mask"]).numpy()
            )
    hidden = model.config.hidden_dim
    p = features.mask.shape[1]

    def joined(name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.zeros((0, *shape), np.float32)

    return {
        "page_embeddings": joined("page", (hidden,)).astype(np.float32),
        "panel_embeddings": joined("panels", (p, hidden)).astype(np.float32),
        "attention_weights": joined("attention", (p,)).astype(np.float32),
        "reading_order": joined("order", (p,)).astype(np.int64),
        "panel_coordinates": features.boxes.astype(np.float32),
        "panel_mask": features.mask.astype(bool),
    }


class ClosureLitePredictor:
    """Page embeddings from model inputs; ``save``/``load`` a folder with ``config.json`` and
    ``state_dict.pt`` (weights only, loaded with ``weights_only=True``)."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval()

    @property
    def config(self) -> ClosureLiteConfig:
        return self.model.config

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 384) page embeddings from ``vision`` (N, 12, Dv), ``text`` (N, 12, 384),
        ``composition`` (N, 12, C), ``mask`` (N, 12) and optional ``page_type`` (N,)."""
        import torch

        mask = torch.as_tensor(np.asarray(features["mask"]), dtype=torch.bool)
        page_type = features.get("page_type")
        with torch.inference_mode():
            out = self.model(
                torch.as_tensor(np.asarray(features["vision"]), dtype=torch.float32),
                torch.as_tensor(np.asarray(features["text"]), dtype=torch.float32),
                torch.as_tensor(np.asarray(features["composition"]), dtype=torch.float32),
                mask,
                None
                if page_type is None
                else torch.as_tensor(np.asarray(page_type), dtype=torch.long),
            )
        return out.page.numpy()

    def vision_encoder(self, device: str = "cpu") -> Any:
        """The model's own fine-tuned vision encoder as a ``VisionEncoder`` whose cache id
        is the digest of its weights (so its features never mix with the frozen encoder's
        or another fine-tune's), or None when the model reads the frozen encoder's."""
        if not self.config.finetune_vision:
            return None
        from comix_resources.encoders import VisionEncoder

        backbone = self.model.vision_backbone
        digest = hashlib.sha256()
        for name, tensor in sorted(backbone.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return VisionEncoder(
            network=backbone,
            network_id=f"vision:efficientnet-lite0@{self.config.image_size}:finetuned:"
            f"{digest.hexdigest()[:16]}",
            image_size=self.config.image_size,
            device=device,
        )

    def save(self, path: str | Path) -> None:
        save_model_folder(path, self.config.to_json(), self.model)

    @classmethod
    def load(cls, path: str | Path) -> ClosureLitePredictor:
        from comix_resources.closure_lite.model import ClosureLite

        config_json, state = read_model_folder(path)
        model = ClosureLite(ClosureLiteConfig.from_json(config_json))
        model.load_state_dict(state)
        return cls(model)


def page_records(
    table: pl.DataFrame, whole_page: bool = True
) -> tuple[dict[str, list[Any]], list[list[str]]]:
    """The Zarr store's per-page ids and per-slot panel texts for DataSpec rows, slot for slot
    as ``encode_pages(table, ..., whole_page=whole_page)`` lays them out."""
    ids = {
        "page_id": table["page_id"].cast(str).to_list(),
        "book_id": table["book"].cast(str).to_list(),
        "source": table["source"].cast(str).to_list(),
        "collection": table["collection"].cast(str).to_list(),
        "page_index": table["page_index"].cast(int).to_list(),
    }
    texts = [
        [slot.text for slot in page_slots(row, MAX_PANELS, whole_page)] for row in table.to_dicts()
    ]
    return ids, texts
