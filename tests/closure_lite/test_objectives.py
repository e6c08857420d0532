import math

import torch

from comix_resources.closure_lite.model import ClosureLite
from comix_resources.closure_lite.objectives import reading_order_loss
from comix_resources.closure_lite.tensors import to_tensors
from comix_resources.closure_lite.train import compute_losses

from .conftest import small_config


def test_losses_are_not_trivial_at_random_init(features):
    torch.manual_seed(0)
    for variant in ("base", "context-denoise"):
        model = ClosureLite(small_config(variant))
        losses = compute_losses(
            model, to_tensors(features.subset(range(16))), torch.Generator().manual_seed(0)
        )
        # Cross-entropies over many candidates: far from zero at init.
        assert losses["masked_panel"].item() > 0.5 * math.log(features.mask[:16].sum())
        assert losses["reading_order"].item() > 1.0
        # Two views of a page share most panels, so this one starts lower, but not at zero.
        assert losses["page"].item() > 0.05


def test_reading_order_loss_is_zero_only_for_perfect_scores():
    order = torch.tensor([[0, 2, 1, -1]])
    mask = order >= 0
    perfect = torch.full((1, 4, 4), -1e4)
    perfect[0, 0, 2] = perfect[0, 2, 1] = 1e4  # slot 0 -> slot 2 -> slot 1
    start = torch.tensor([[1e4, -1e4, -1e4, -1e4]])
    assert reading_order_loss(perfect, start, order, mask).item() < 1e-3
    uniform = torch.zeros(1, 4, 4).masked_fill(~(mask[:, None] & mask[:, :, None]), -1e4)
    assert reading_order_loss(uniform, torch.zeros(1, 4), order, mask).item() > 1.0


def test_losses_decrease_when_training_on_a_tiny_set(features):
    torch.manual_seed(0)
    model = ClosureLite(small_config("context"))
    data = to_tensors(features.subset(range(16)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for step in range(40):
        losses = compute_losses(model, data, torch.Generator().manual_seed(step))
        if first is None:
            first = {k: v.item() for k, v in losses.items()}
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
    last = compute_losses(model, data, torch.Generator().manual_seed(0))
    for name in ("masked_panel", "reading_order", "page"):
        assert last[name].item() < 0.7 * first[name], name
