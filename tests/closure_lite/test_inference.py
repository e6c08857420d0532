import numpy as np
import torch

from comix_resources.closure_lite.inference import ClosureLitePredictor, embed_pages
from comix_resources.closure_lite.model import ClosureLite

from .conftest import small_config


def test_embed_pages_arrays(features):
    torch.manual_seed(0)
    model = ClosureLite(small_config("context"))
    out = embed_pages(model, features, batch_size=7)
    n = len(features)
    assert out["page_embeddings"].shape == (n, 32)
    assert out["panel_embeddings"].shape == (n, 12, 32)
    assert out["attention_weights"].shape == (n, 12)
    assert out["panel_coordinates"].shape == (n, 12, 4)
    assert out["panel_mask"].dtype == bool and out["reading_order"].dtype == np.int64
    for i in range(n):
        real = np.flatnonzero(features.mask[i])
        order = out["reading_order"][i]
        assert sorted(order[: len(real)].tolist()) == real.tolist()
        assert (order[len(real) :] == -1).all()


def test_predictor_save_load_roundtrip(features, tmp_path):
    torch.manual_seed(0)
    predictor = ClosureLitePredictor(ClosureLite(small_config("context-denoise")))
    inputs = features.subset(range(6)).model_inputs()
    expected = predictor.predict(inputs)
    predictor.save(tmp_path / "model")
    loaded = ClosureLitePredictor.load(tmp_path / "model")
    assert loaded.config == predictor.config
    np.testing.assert_allclose(loaded.predict(inputs), expected, atol=1e-6)
    assert expected.shape == (6, 32)
