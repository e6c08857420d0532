"""Query embeddings land where ``embed_pages`` puts the indexed pages and panels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from comix_resources.closure_lite.config import MAX_PANELS
from comix_resources.closure_lite.features import COMPOSITION_FEATURES, PanelFeatures
from comix_resources.closure_lite.inference import embed_pages
from comix_resources.closure_lite.model import ClosureLite
from comix_resources.closure_lite.query import QueryEncoder
from tests.closure_lite.conftest import TEXT_DIM, VISION_DIM, small_config


class StubVision:
    """Mean colour per channel, spread over the feature width: deterministic and cheap."""

    id, dim = "stub-vision", VISION_DIM

    def encode(self, items: Sequence[Image.Image]) -> np.ndarray:
        means = [np.asarray(im, np.float32).mean((0, 1)) / 255 for im in items]
        return np.asarray([np.resize(m, VISION_DIM) for m in means], np.float32)


class StubText:
    id, dim = "stub-text", TEXT_DIM

    def encode(self, items: Sequence[str]) -> np.ndarray:
        out = np.asarray(
            [np.resize(np.frombuffer(t.encode()[:4].ljust(4), np.uint8), TEXT_DIM) for t in items],
            np.float32,
        )
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def encoder() -> QueryEncoder:
    torch.manual_seed(0)
    return QueryEncoder(ClosureLite(small_config("context")), StubText(), StubVision())


def grid_page() -> Image.Image:
    image = Image.new("RGB", (400, 600), "white")
    draw = ImageDraw.Draw(image)
    for i, (x, y) in enumerate([(20, 20), (210, 20), (20, 310), (210, 310)]):
        draw.rectangle((x, y, x + 170, y + 270), outline="black", width=5)
        draw.ellipse((x + 40, y + 60, x + 120, y + 140), fill=(60 * i, 80, 200 - 40 * i))
    return image


def one_page_features(
    vision: np.ndarray, text: np.ndarray, composition: np.ndarray
) -> PanelFeatures:
    n = len(vision)
    pad = MAX_PANELS - n

    def padded(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros((pad, a.shape[1]), np.float32)])[None]

    return PanelFeatures(
        vision=padded(vision),
        text=padded(text),
        composition=padded(composition),
        mask=np.asarray([[True] * n + [False] * pad]),
        order=np.asarray([list(range(n)) + [-1] * pad]),
        boxes=np.zeros((1, MAX_PANELS, 4), np.float32),
        book_ids=np.asarray(["b"]),
        page_ids=np.asarray(["b-0000"]),
        page_type_ids=np.zeros(1, np.int64),
    )


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_text_query_is_the_index_path_for_a_one_panel_page(encoder: QueryEncoder) -> None:
    vectors = {mode: encoder.encode_text("a dragon", mode) for mode in ("page", "panel")}
    features = one_page_features(
        np.zeros((1, VISION_DIM), np.float32),
        StubText().encode(["a dragon"]),
        encoder._neutral_composition(1),
    )
    stored = embed_pages(encoder.model, features)
    np.testing.assert_allclose(vectors["page"], unit(stored["page_embeddings"][0]), atol=1e-5)
    np.testing.assert_allclose(vectors["panel"], unit(stored["panel_embeddings"][0, 0]), atol=1e-5)
    assert not np.allclose(vectors["page"], vectors["panel"])
    assert np.linalg.norm(vectors["page"]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="empty"):
        encoder.encode_text("  ")


def test_page_image_detects_panels_in_reading_order(encoder: QueryEncoder) -> None:
    query = encoder.encode_image(grid_page(), "page")
    assert (query.width, query.height) == (400, 600)
    assert len(query.boxes) == 4
    xs_ys = [(b[0] // 100, b[1] // 100) for b in query.boxes]
    assert xs_ys == sorted(xs_ys, key=lambda p: (p[1], p[0]))  # rows, then left to right
    assert np.linalg.norm(query.vector) == pytest.approx(1.0, abs=1e-6)
    assert query.vector.shape == (encoder.dim,)


def test_panel_image_is_one_full_frame_panel(encoder: QueryEncoder) -> None:
    crop = grid_page().crop((20, 20, 190, 290))
    query = encoder.encode_image(crop, "panel")
    assert query.boxes == [(0, 0, 170, 270)]
    composition = np.zeros((1, len(COMPOSITION_FEATURES)), np.float32)
    composition[0, :8] = [0, 0, 1, 1, 0.5, 0.5, np.log(170 / 270), 1]
    composition[0, -1] = 1 / MAX_PANELS
    features = one_page_features(
        StubVision().encode([crop]), np.zeros((1, TEXT_DIM), np.float32), composition
    )
    stored = embed_pages(encoder.model, features)
    np.testing.assert_allclose(query.vector, unit(stored["panel_embeddings"][0, 0]), atol=1e-5)


def test_encoder_dims_must_fit_the_model() -> None:
    with pytest.raises(ValueError, match="expects"):
        QueryEncoder(ClosureLite(small_config()), StubText(), type("V", (), {"dim": 7})())
