import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageDraw

from comix_resources.closure_lite.config import PAGE_TYPES
from comix_resources.closure_lite.encoding import encode_pages
from comix_resources.closure_lite.features import COMPOSITION_FEATURES
from comix_resources.encoders import FeatureCache


class CountingEncoder:
    def __init__(self, name: str, dim: int) -> None:
        self.id, self.dim, self.calls, self.items = name, dim, 0, 0

    def encode(self, items):
        self.calls += 1
        self.items += len(items)
        return np.stack(
            [np.full(self.dim, len(str(getattr(x, "size", x))), np.float32) for x in items]
        )


def _panel(box, order, dialogue):
    text = {"dialogue": dialogue, "narration": [], "sfx": []}
    return {
        "panel_coords": box,
        "confidence": 0.9,
        "order": order,
        "text": text,
        "characters": ["hero"],
        "description": "",
    }


def _table() -> pl.DataFrame:
    boxes = [[20, 20, 360, 280], [20, 320, 170, 260], [210, 320, 170, 260]]
    rows = []
    for page in range(3):
        panels = [_panel(b, k, [f"line {page}-{k}"] if k != 1 else []) for k, b in enumerate(boxes)]
        rows.append(
            {
                "page_id": f"bk{page // 2}-{page:04d}",
                "book": f"bk{page // 2}",
                "page_index": page,
                "page_image_path": f"p{page}.png",
                "page_size": {"width": 400, "height": 600},
                "panels": panels[::-1],  # listed out of reading order
                "character_boxes": [{"bbox": [40, 40, 50, 80], "score": 0.8}],
                "faces": [],
                "texts": [
                    {"text": "line", "kind": "dialogue", "bbox": [30, 30, 100, 40], "panel": 0}
                ],
                "page_type": "story",
            }
        )
    return pl.DataFrame(rows)


def _loader(path: str) -> Image.Image:
    # Half-resolution scans: boxes are in page_size pixels and must be scaled.
    image = Image.new("RGB", (200, 300), "white")
    ImageDraw.Draw(image).rectangle([10, 10, 50 + int(path[1]) * 20, 60], fill="red")
    return image


def test_encode_pages_arrays_and_cache(tmp_path):
    table = _table()
    text, vision = CountingEncoder("t", 384), CountingEncoder("v", 8)
    cache = FeatureCache(tmp_path / "cache.sqlite")
    first = encode_pages(table, _loader, text, vision, cache)
    assert first.vision.shape == (3, 12, 8) and first.text.shape == (3, 12, 384)
    assert first.composition.shape == (3, 12, len(COMPOSITION_FEATURES))
    assert first.mask.sum() == 9 and first.order[0, :3].tolist() == [2, 1, 0]
    assert (first.text[0, 1] == 0).all()  # panel without text
    assert first.page_type_ids.tolist() == [PAGE_TYPES.index("story")] * 3
    assert first.composition[0, 2, 8] == 0.25  # one character box in the first panel
    calls = (text.items, vision.items)
    cache.close()

    again = encode_pages(table, _loader, text, vision, FeatureCache(tmp_path / "cache.sqlite"))
    assert (text.items, vision.items) == calls  # every panel came from the cache
    np.testing.assert_array_equal(again.vision, first.vision)
    np.testing.assert_array_equal(again.text, first.text)


def test_panels_beyond_twelve_are_dropped_by_order():
    row = _table().to_dicts()[0]
    row["panels"] = [_panel([10 * k, 0, 5, 5], k, []) for k in range(15)][::-1]
    features = encode_pages(
        pl.DataFrame([row]), _loader, CountingEncoder("t", 384), CountingEncoder("v", 4)
    )
    assert features.mask.sum() == 12 and sorted(features.order[0].tolist()) == list(range(12))


@pytest.mark.slow
def test_text_encoder_loads_offline_from_the_gt_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from comix_resources.encoders import TextEncoder

    encoder = TextEncoder()
    vectors = encoder.encode(["Hold on tight!", "Hold on tightly!", "Quarterly tax report"])
    assert vectors.shape == (3, 384) and encoder.dim == 384
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.slow
def test_vision_encoder_loads_offline_from_its_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sklearn.datasets import load_sample_images

    from comix_resources.encoders import VisionEncoder

    encoder = VisionEncoder()
    photos = [Image.fromarray(a) for a in load_sample_images().images]
    vectors = encoder.encode([*photos, photos[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    assert vectors.shape == (3, 1280) and encoder.dim == 1280
    cosine = vectors @ vectors.T / np.outer(*(2 * [np.linalg.norm(vectors, axis=1)]))
    assert cosine[0, 2] > cosine[0, 1]  # a mirrored photo is nearer than another photo
    # The ImageNet head works: the temple photo's top class is a building (bell cote 442,
    # monastery 663, palace 698, ...), not noise.
    import torch

    pixels = encoder._pixels(photos[:1])
    with torch.inference_mode():
        assert int(encoder.model(pixels).argmax()) in {442, 449, 483, 538, 663, 698}
