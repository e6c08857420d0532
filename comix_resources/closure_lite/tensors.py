"""``PanelFeatures`` as the torch tensors the model, training and evaluation read."""

from __future__ import annotations

import numpy as np
import torch

from comix_resources.closure_lite.features import PanelFeatures


def to_tensors(features: PanelFeatures) -> dict[str, torch.Tensor]:
    return {
        "vision": torch.from_numpy(features.vision).float(),
        "text": torch.from_numpy(features.text).float(),
        "composition": torch.from_numpy(features.composition).float(),
        "mask": torch.from_numpy(features.mask).bool(),
        "order": torch.from_numpy(features.order).long(),
        "page_type": torch.from_numpy(features.page_type_ids).long(),
        "book": torch.from_numpy(np.unique(features.book_ids, return_inverse=True)[1]).long(),
    }
