import pytest
import torch

from comix_resources.closure_lite.config import VARIANTS
from comix_resources.closure_lite.model import ClosureLite, decode_reading_order
from comix_resources.closure_lite.tensors import to_tensors

from .conftest import small_config


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes(features, variant):
    torch.manual_seed(0)
    model = ClosureLite(small_config(variant)).eval()
    data = to_tensors(features.subset(range(5)))
    out = model(data["vision"], data["text"], data["composition"], data["mask"], data["page_type"])
    assert out.page.shape == (5, 32)
    assert out.panels.shape == out.fused.shape == (5, 12, 32)
    assert torch.allclose(out.attention.sum(1), torch.ones(5), atol=1e-5)
    assert (out.attention[~data["mask"]] == 0).all()
    scores, start = model.next_scores(out.panels, data["composition"], data["mask"])
    assert scores.shape == (5, 12, 12) and start.shape == (5, 12)


@pytest.mark.parametrize("variant", ["base", "context"])
def test_padded_panels_do_not_affect_outputs(features, variant):
    torch.manual_seed(0)
    model = ClosureLite(small_config(variant)).eval()
    data = to_tensors(features.subset(range(4)))
    noisy = {k: v.clone() for k, v in data.items()}
    pad = ~data["mask"]
    for name in ("vision", "text", "composition"):
        noisy[name][pad] = torch.randn_like(noisy[name][pad]) * 100
    a = model(data["vision"], data["text"], data["composition"], data["mask"])
    b = model(noisy["vision"], noisy["text"], noisy["composition"], noisy["mask"])
    assert torch.allclose(a.page, b.page, atol=1e-5)
    assert torch.allclose(a.panels, b.panels, atol=1e-5)
    assert (b.panels[pad] == 0).all()


def test_page_type_unknown_adds_nothing(features):
    model = ClosureLite(small_config()).eval()
    data = to_tensors(features.subset(range(3)))
    inputs = (data["vision"], data["text"], data["composition"], data["mask"])
    assert torch.equal(model(*inputs).page, model(*inputs, torch.zeros(3, dtype=torch.long)).page)
    assert not torch.equal(model(*inputs).page, model(*inputs, torch.full((3,), 3)).page)


def test_decode_reading_order_is_a_permutation_of_real_slots():
    mask = torch.tensor([[True, True, False, True], [False] * 4])
    scores = torch.randn(2, 4, 4)
    order = decode_reading_order(scores, torch.randn(2, 4), mask)
    assert sorted(order[0, :3].tolist()) == [0, 1, 3] and order[0, 3] == -1
    assert (order[1] == -1).all()


@pytest.mark.parametrize("variant", ["base", "context"])
def test_content_term_and_masked_slot_layout(features, variant):
    import dataclasses

    torch.manual_seed(0)
    model = ClosureLite(dataclasses.replace(small_config(variant), pair_rank=4)).eval()
    data = to_tensors(features.subset(range(3)))
    out = model(data["vision"], data["text"], data["composition"], data["mask"])
    scores, _ = model.next_scores(out.panels, data["composition"], data["mask"])
    assert scores.shape == (3, 12, 12) and torch.isfinite(scores).all()
    slot = torch.zeros(3, dtype=torch.long)
    with_layout = model.predict_masked(out.fused, data["mask"], slot, data["composition"])
    without = model.predict_masked(out.fused, data["mask"], slot)
    assert with_layout.shape == without.shape == (3, 32)
    assert not torch.allclose(with_layout, without)
