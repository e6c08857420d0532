"""Query embeddings for search: text and uploaded images through a trained Closure Lite.

The index holds the model's page embeddings and panel embeddings (``embed_pages``), so a
query has to travel the same path to land in the same space:

- text: a one-panel "page" whose panel has a zero vision vector (what the model sees for a
  panel without art after modality dropout), the text encoder's vector, and neutral layout
  (the panel fills a square page). Panel mode takes that panel's embedding, page mode the
  pooled page embedding.
- an image in page mode: panels detected with the contour detector (the offline detector
  of the pipeline), cropped and encoded like ``encode_pages`` does, no text (uploads are not
  OCR'd: it would cost seconds per query), then the page embedding.
- an image in panel mode: the whole image as the page's single, full-frame panel.

Every output is L2-normalised, like the vectors ``write_search_bundle`` indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from comix_resources.closure_lite.config import MAX_PANELS
from comix_resources.closure_lite.encoding import crop_panel
from comix_resources.closure_lite.features import (
    COMPOSITION_FEATURES,
    PanelSlot,
    composition_features,
    page_slots,
)

if TYPE_CHECKING:
    from PIL import Image

Mode = Literal["page", "panel"]


@dataclass(frozen=True)
class ImageQuery:
    """An image query's embedding and the panels it was built from (page pixels)."""

    vector: np.ndarray  # (hidden,) float32, unit length
    boxes: list[tuple[int, int, int, int]]  # [x, y, w, h] in reading order
    width: int
    height: int


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class QueryEncoder:
    """Embeds text and images into the space of a bundle's page and panel index."""

    def __init__(
        self,
        model: Any,
        text_encoder: Any,
        vision_encoder: Any,
        detector: Any = None,
        max_panels: int = MAX_PANELS,
    ) -> None:
        config = model.config
        if text_encoder.dim != config.text_dim or vision_encoder.dim != config.vision_dim:
            raise ValueError(
                f"encoders give text {text_encoder.dim}-d and vision {vision_encoder.dim}-d, "
                f"the model expects {config.text_dim}-d and {config.vision_dim}-d"
            )
        self.model = model.eval()
        self.text_encoder = text_encoder
        self.vision_encoder = vision_encoder
        if detector is None:
            from comix_resources.detection import ContourDetector

            detector = ContourDetector()
        self.detector = detector
        self.max_panels = max_panels

    @classmethod
    def from_model_dir(
        cls, model_dir: Any, text_encoder: Any = None, vision_encoder: Any = None
    ) -> QueryEncoder:
        """From a ``ClosureLitePredictor.save`` folder; default encoders load offline."""
        from comix_resources.closure_lite.inference import ClosureLitePredictor
        from comix_resources.encoders import TextEncoder, VisionEncoder

        predictor = ClosureLitePredictor.load(model_dir)
        vision = vision_encoder or predictor.vision_encoder() or VisionEncoder()
        return cls(predictor.model, text_encoder or TextEncoder(), vision)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_dim)

    # the model -------------------------------------------------------------------------
    def _run(
        self, vision: np.ndarray, text: np.ndarray, composition: np.ndarray, mode: Mode
    ) -> np.ndarray:
        """(hidden,) embedding of one page of ``n`` panels; panel mode returns panel 0's."""
        import torch

        n = len(vision)
        p = max(n, 1)
        mask = torch.zeros((1, p), dtype=torch.bool)
        mask[0, :n] = True
        with torch.inference_mode():
            out = self.model(
                torch.as_tensor(vision[None], dtype=torch.float32),
                torch.as_tensor(text[None], dtype=torch.float32),
                torch.as_tensor(composition[None], dtype=torch.float32),
                mask,
                None,
            )
        # ``panels`` is what embed_pages stores for the panel index (contextual for the
        # context variants; the fused panel itself for the others).
        vector = out.page[0] if mode == "page" else out.panels[0, 0]
        return _unit(vector.numpy())

    @staticmethod
    def _neutral_composition(n_text: int) -> np.ndarray:
        slot = PanelSlot(box=(0, 0, 1, 1), order=0, text="", panel_order=None)
        row = {"page_size": {"width": 1, "height": 1}}
        composition = composition_features(row, [slot])
        # One text item in the panel, as a captioned panel would have.
        composition[0, COMPOSITION_FEATURES.index("texts")] = min(n_text, 1) / 4.0
        return composition

    # queries ---------------------------------------------------------------------------
    def encode_text(self, text: str, mode: Mode = "page") -> np.ndarray:
        """Unit (hidden,) embedding of ``text`` for the page or the panel index."""
        if not text.strip():
            raise ValueError("empty text query")
        cfg = self.model.config
        text_vector = np.asarray(self.text_encoder.encode([text]), np.float32)[:1]
        vision = np.zeros((1, cfg.vision_dim), np.float32)
        return self._run(vision, text_vector, self._neutral_composition(1), mode)

    def encode_texts(self, texts: Sequence[str], mode: Mode = "page") -> np.ndarray:
        return np.stack([self.encode_text(t, mode) for t in texts])

    def detect_panels(self, image: Image.Image) -> list[tuple[int, int, int, int]]:
        detection = self.detector.detect(image)
        return [p.bbox for p in detection.panels if p.category == "panel"]

    def encode_image(self, image: Image.Image, mode: Mode = "page") -> ImageQuery:
        """Embed an uploaded page (``mode="page"``) or panel crop (``mode="panel"``)."""
        image = image.convert("RGB")
        width, height = image.size
        if mode == "panel":
            boxes = [(0, 0, width, height)]
        else:
            boxes = self.detect_panels(image) or [(0, 0, width, height)]
        row = {
            "page_size": {"width": width, "height": height},
            "panels": [
                {"panel_coords": list(box), "order": rank, "text": {}}
                for rank, box in enumerate(boxes)
            ],
        }
        slots = page_slots(row, self.max_panels)
        composition = composition_features(row, slots)
        crops = [crop_panel(image, slot.box, row["page_size"]) for slot in slots]
        vision = np.asarray(self.vision_encoder.encode(crops), np.float32)
        text = np.zeros((len(slots), self.model.config.text_dim), np.float32)
        vector = self._run(vision, text, composition, mode)
        ordered = sorted(slots, key=lambda s: s.order)
        return ImageQuery(vector, [s.box for s in ordered], width, height)
