"""Faster R-CNN detector for CoMix checkpoints (panels, characters, text, faces).

The architecture is torchvision's ``fasterrcnn_resnet50_fpn``; the weights come
from a local checkpoint file, never from the network.  CoMix's benchmark
(``benchmarks/detections/faster_rcnn.py`` in emanuelevivoli/CoMix) builds it from
the COCO-pretrained model with a new 5-class box predictor, and feeds it pages
squashed to 1024x1024 (``T.Resize((1024, 1024))``) that the model's own
transform then scales to its ``min_size``/``max_size`` (800/1333), that is to
800x800; this detector does the same by default.

Model labels to CoMix categories (``CATEGORY_IDS``: panel 1, character 2,
text 4, face 7), chosen from the checkpoint's number of classes, read off
``roi_heads.box_predictor.cls_score.weight`` (one row per class, background
included):

- 5 classes (CoMix's own checkpoints): label 1..4 are panel, character, text,
  face, CoMix's ``CLS_MAPPING[label - 1]``;
- 8 classes: the label is the CoMix category id itself (3, 5 and 6 are unused
  ids and are dropped);
- anything else, or another order (CoMix's ``--old`` checkpoints read
  ``("text", "character", "face", "panel")``): pass ``labels``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from comix_resources.detection.base import (
    CATEGORY_IDS,
    COVER,
    Box,
    Detection,
    Panel,
    as_uint8,
    one_panel,
)
from comix_resources.detection.order import reading_order

if TYPE_CHECKING:
    import torch

# Category names by model label (label 0 is the background), per class count.
DEFAULT_LABELS: dict[int, tuple[str | None, ...]] = {
    5: ("panel", "character", "text", "face"),
    8: ("panel", "character", None, "text", None, None, "face"),
}

# The one key whose shape tells the number of classes; its absence means the
# file is not a torchvision Faster R-CNN.
_CLS_SCORE = "roi_heads.box_predictor.cls_score.weight"


def build_model(
    num_classes: int,
    min_size: int = 800,
    max_size: int = 1333,
    score_threshold: float = 0.5,
    max_detections: int = 100,
) -> torch.nn.Module:
    """An untrained ``fasterrcnn_resnet50_fpn`` laid out as CoMix's fine-tuned model.

    ``fasterrcnn_resnet50_fpn(weights=None)`` would use trainable BatchNorm, and
    a state_dict of the COCO-pretrained model CoMix fine-tuned has frozen
    BatchNorm (no ``num_batches_tracked``), with eps 0 as torchvision sets for
    those weights.  Frozen BatchNorm drops ``num_batches_tracked`` when loading,
    so state_dicts of both kinds load into this model and compute the same thing
    in eval mode.
    """
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.misc import FrozenBatchNorm2d

    backbone = resnet_fpn_backbone(
        backbone_name="resnet50", weights=None, norm_layer=partial(FrozenBatchNorm2d, eps=0.0)
    )
    return FasterRCNN(
        backbone,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        # torchvision keeps boxes scoring strictly above this, as CoMix's "> 0.5" did.
        box_score_thresh=score_threshold,
        box_detections_per_img=max_detections,
    )


class FasterRCNNDetector:
    """Panels in reading order, then characters, text and faces, from a checkpoint.

    Panels get ``order`` 0..n-1 by ``reading_order``; the other categories follow
    with ``order`` -1, highest score first.  A page without a panel is reported
    as one whole-page panel (score 0), as the contour detector does.  Inference
    uses as many threads as ``torch.set_num_threads`` allows; this class leaves
    that setting alone.
    """

    name = "fasterrcnn"

    def __init__(
        self,
        checkpoint: str | Path,
        score_threshold: float = 0.5,
        min_size: int = 800,
        max_size: int = 1333,
        square_size: int | None = 1024,
        max_detections: int = 100,
        device: str = "cpu",
        labels: Sequence[str | None] | None = None,
    ) -> None:
        """Load the checkpoint (a ValueError naming the file if it is unusable).

        checkpoint: a ``torch.save`` file holding a state_dict, or a dict with it
            under ``"model"`` or ``"state_dict"``; a ``"module."`` prefix from
            (Distributed)DataParallel is removed.
        score_threshold: keep detections scoring above this.
        min_size, max_size: the model's own resize (torchvision's
            GeneralizedRCNNTransform): shorter side to ``min_size`` unless the
            longer side would pass ``max_size``.
        square_size: first squash the page to this square, as CoMix trained and
            evaluated; None keeps the aspect ratio.
        max_detections: most regions per page, all categories together, best
            scores first (CoMix kept torchvision's 100).
        device: torch device, such as "cpu" or "cuda".
        labels: category names of model labels 1..num_classes-1 (None skips a
            label); by default chosen from the number of classes, see the module.
        """
        import torch

        path = Path(checkpoint)
        state = _load_state_dict(path)
        num_classes = int(state[_CLS_SCORE].shape[0])
        self.labels = _label_names(num_classes, labels, path)
        self.square_size = square_size
        self.device = torch.device(device)
        # The results belong to these exact weights, whatever the file is called.
        self.version = _sha256(path)[:12]
        model = build_model(num_classes, min_size, max_size, score_threshold, max_detections)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                f"{path} does not fit fasterrcnn_resnet50_fpn with {num_classes} classes: "
                f"{str(error)[:500]}"
            ) from error
        self._model = model.eval().to(self.device)

    def detect(
        self, image: np.ndarray | Image.Image, rtl: bool = False, page_type: str | None = None
    ) -> Detection:
        """Detect on one RGB (or grey) page; boxes are in the page's pixels (one panel on a
        page the page-type step calls a cover)."""
        import torch

        pixels = as_uint8(image)
        height, width = pixels.shape[:2]
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
        # CHW floats in 0..1, what torchvision detection models take; the model normalises.
        chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / 255
        tensor = torch.from_numpy(chw).to(self.device)
        if self.square_size:
            # Bilinear with antialiasing, like torchvision's Resize on the PIL pages CoMix read.
            tensor = torch.nn.functional.interpolate(
                tensor[None],
                size=(self.square_size, self.square_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
        with torch.inference_mode():
            output = self._model([tensor])[0]
        scale_x, scale_y = width / tensor.shape[2], height / tensor.shape[1]

        found: list[tuple[str, Box, float]] = []
        for (x0, y0, x1, y1), label, score in zip(
            output["boxes"].tolist(),
            output["labels"].tolist(),
            output["scores"].tolist(),
            strict=True,
        ):
            category = self.labels[label]
            box = _page_box((x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y), width, height)
            if category is not None and box is not None:
                found.append((category, box, score))
        detection = self._detection(found, width, height, rtl)
        return one_panel(detection) if page_type == COVER else detection

    def _detection(
        self, found: list[tuple[str, Box, float]], width: int, height: int, rtl: bool
    ) -> Detection:
        panels = [(box, score) for category, box, score in found if category == "panel"]
        whole_page = not panels
        if whole_page:
            panels = [((0, 0, width, height), 0.0)]
        ordered = [
            Panel(bbox=panels[i][0], score=panels[i][1], order=rank, category="panel")
            for rank, i in enumerate(reading_order([box for box, _ in panels], rtl=rtl))
        ]
        others = sorted((item for item in found if item[0] != "panel"), key=lambda item: -item[2])
        ordered += [Panel(bbox=box, score=score, order=-1, category=c) for c, box, score in others]
        return Detection(
            width=width,
            height=height,
            panels=tuple(ordered),
            detector=self.name,
            detector_version=self.version,
            whole_page=whole_page,
        )


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The model's state_dict from a checkpoint file, keys without "module."."""
    import torch

    if not path.is_file():
        raise ValueError(f"Faster R-CNN checkpoint not found: {path}")
    try:
        # weights_only: a checkpoint is data, and a pickle could run code.
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"cannot read Faster R-CNN checkpoint {path} (expected torch.save of a state_dict, "
            f"or of a dict holding it under 'model' or 'state_dict'): {error}"
        ) from error
    if isinstance(loaded, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, not a state_dict")
    state = {
        (key.removeprefix("module.") if isinstance(key, str) else key): value
        for key, value in loaded.items()
    }
    if _CLS_SCORE not in state or getattr(state[_CLS_SCORE], "ndim", 0) != 2:
        raise ValueError(f"{path} is not a torchvision Faster R-CNN state_dict (no {_CLS_SCORE})")
    return state


def _label_names(
    num_classes: int, labels: Sequence[str | None] | None, path: Path
) -> tuple[str | None, ...]:
    """Category name by model label, index 0 (background) included."""
    if labels is None:
        if num_classes not in DEFAULT_LABELS:
            raise ValueError(
                f"{path} has {num_classes} classes; pass labels=[...] naming model labels "
                f"1..{num_classes - 1} (known layouts: {sorted(DEFAULT_LABELS)} classes)"
            )
        labels = DEFAULT_LABELS[num_classes]
    if len(labels) != num_classes - 1:
        raise ValueError(f"{path} has {num_classes - 1} labels besides background, got {labels}")
    unknown = [name for name in labels if name is not None and name not in CATEGORY_IDS]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; CoMix has {sorted(CATEGORY_IDS)}")
    return (None, *labels)


def _page_box(corners: tuple[float, float, float, float], width: int, height: int) -> Box | None:
    """An ``(x, y, w, h)`` box in whole pixels inside the page, None if empty."""
    x0, y0, x1, y1 = (round(value) for value in corners)
    x0, x1 = max(0, min(width, x0)), max(0, min(width, x1))
    y0, y1 = max(0, min(height, y0)), max(0, min(height, y1))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
