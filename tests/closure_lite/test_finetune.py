"""Fine-tuning the vision encoder (the GPU flag), run on the CPU on a few demo pages.

What must hold: the crops training sees are the panels the frozen features came from, the
encoder's weights move and travel with the registered predictor, and the features the
embeddings asset computes with the champion's encoder are the ones the model was trained
and evaluated on (under a cache id of their own).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from comix_resources.closure_lite.config import ClosureLiteConfig
from comix_resources.closure_lite.encoding import PanelCrops, encode_pages
from comix_resources.closure_lite.features import PanelFeatures
from comix_resources.closure_lite.model import ClosureLite
from comix_resources.closure_lite.query import QueryEncoder
from comix_resources.closure_lite.registry import load_model, train_and_register
from comix_resources.closure_lite.train import (
    CROP_BATCH_MULTIPLE,
    _encode_crops,
    _set_mode,
    with_model_vision,
)
from comix_resources.demo.training_table import demo_training_pages, file_image_loader
from comix_resources.encoders import TextEncoder, VisionEncoder, pretrained_efficientnet_lite0
from comix_resources.lake import Lake
from comix_resources.resources import ClosureLiteResource
from comix_resources.tracking import Tracker, sqlite_tracking_uri

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pages(
    demo_library: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pl.DataFrame, Path]:
    """Three pages from each of three demo books, their images in a folder (a lake root)."""
    images = tmp_path_factory.mktemp("finetune-images")
    table = demo_training_pages(demo_library, images)
    books = table["book"].unique(maintain_order=True).to_list()[:3]
    small = table.filter(pl.col("book").is_in(books)).group_by("book", maintain_order=True).head(3)
    return small, images


@pytest.fixture(scope="module")
def frozen(pages: tuple[pl.DataFrame, Path]) -> PanelFeatures:
    table, images = pages
    return encode_pages(table, file_image_loader(images), TextEncoder(), VisionEncoder())


def test_crops_are_the_panels_the_frozen_features_come_from(pages, frozen) -> None:
    table, images = pages
    crops = PanelCrops(table, file_image_loader(images))
    pixels = crops.pixels(range(len(crops)))
    assert pixels.shape == (int(frozen.mask.sum()), 3, 224, 224)
    with torch.inference_mode():
        features = pretrained_efficientnet_lite0().eval().features(pixels).numpy()
    np.testing.assert_allclose(features, frozen.vision[frozen.mask], rtol=1e-4, atol=1e-4)
    # A subset keeps the page order.
    second = crops.subset([1]).pixels([0])
    first_count = int(frozen.mask[0].sum())
    torch.testing.assert_close(second, pixels[first_count : first_count + len(second)])


def test_crops_decode_each_page_once_within_the_cache_budget(pages) -> None:
    table, images = pages
    opened: list[str] = []
    load = file_image_loader(images)

    def counting_loader(path: str):
        opened.append(path)
        return load(path)

    serial = PanelCrops(table, load, workers=1).pixels(range(table.height))
    crops = PanelCrops(table, counting_loader, workers=4)
    torch.testing.assert_close(crops.pixels(range(table.height)), serial)
    assert sorted(opened) == sorted(table["page_image_path"].to_list())
    # Another epoch, through a subset too, decodes nothing: the subset shares the cache.
    torch.testing.assert_close(crops.pixels(range(table.height)), serial)
    crops.subset([2, 0]).pixels([0, 1])
    assert len(opened) == table.height

    # A budget of one panel's bytes keeps (at most) one page of one panel, so pages decode
    # again; the pixels are the same.
    one_panel = 224 * 224 * 3
    tight = PanelCrops(table, counting_loader, workers=1, cache_bytes=one_panel)
    opened.clear()
    torch.testing.assert_close(tight.pixels(range(table.height)), serial)
    torch.testing.assert_close(tight.pixels(range(table.height)), serial)
    assert len(opened) >= 2 * table.height - 1


def test_padding_a_crop_batch_leaves_the_real_crops_features_unchanged(pages) -> None:
    table, images = pages
    pixels = PanelCrops(table, file_image_loader(images)).pixels([0, 1])
    model = ClosureLite(ClosureLiteConfig(finetune_vision=True))
    model.vision_backbone.load_state_dict(pretrained_efficientnet_lite0().state_dict())
    _set_mode(model, training=True)  # as in a training step: batch norm frozen
    plain = _encode_crops(model, pixels, multiple=1)
    padded = _encode_crops(model, pixels, multiple=CROP_BATCH_MULTIPLE)
    assert len(pixels) % CROP_BATCH_MULTIPLE  # there was padding to add
    assert padded.shape == plain.shape == (len(pixels), model.config.vision_dim)
    torch.testing.assert_close(padded, plain, rtol=1e-4, atol=1e-4)


def test_fine_tuned_encoder_trains_registers_and_embeds_with_its_own_features(
    pages, frozen, tmp_path: Path
) -> None:
    torch.set_num_threads(2)
    table, images = pages
    crops = PanelCrops(table, file_image_loader(images))
    config = ClosureLiteConfig(
        variant="base", finetune_vision=True, max_epochs=2, patience=2, val_fraction=0.34
    )
    tracker = Tracker(sqlite_tracking_uri(tmp_path / "mlflow.db"), tmp_path / "mlartifacts", "ft")
    outcome = train_and_register(frozen, config, tracker, seed=0, crops=crops)
    assert outcome.epochs == 2 and outcome.val_books == 1
    assert outcome.metrics["pages"] == 3  # evaluated on the held-out book's pages

    loaded = load_model(tracker, "base", version=outcome.version.version).predictor
    assert loaded.config.finetune_vision
    backbone = loaded.model.vision_backbone.state_dict()
    pretrained = pretrained_efficientnet_lite0().state_dict()
    moved = [
        k
        for k, v in backbone.items()
        if v.is_floating_point() and not torch.equal(v, pretrained[k])
    ]
    assert moved, "the fine-tuned encoder's weights did not change"
    # Batch-norm statistics stay those of ImageNet (frozen during fine-tuning).
    torch.testing.assert_close(backbone["_bn0.running_mean"], pretrained["_bn0.running_mean"])

    encoder = loaded.vision_encoder()
    assert encoder is not None and "finetuned" in encoder.id and encoder.id != VisionEncoder().id
    assert loaded.vision_encoder().id == encoder.id  # the id is the weights' digest
    # The search page's uploads go through the same encoder (the bundle's model folder).
    loaded.save(tmp_path / "bundle-model")
    assert QueryEncoder.from_model_dir(tmp_path / "bundle-model").vision_encoder.id == encoder.id

    # The embeddings asset's path (resource, lake, feature cache) gives the features the
    # model was evaluated on, and a second call reads them from the cache.
    resource = ClosureLiteResource(cache_dir=str(tmp_path / "cache"))
    lake = Lake(images)
    embedded = resource.encode(lake, table, vision_encoder=encoder)
    expected = with_model_vision(loaded.model, frozen, crops)
    np.testing.assert_allclose(embedded.vision, expected.vision, rtol=1e-4, atol=1e-4)
    assert not np.allclose(embedded.vision[embedded.mask], frozen.vision[frozen.mask], atol=1e-3)
    with sqlite3.connect(tmp_path / "cache" / "closure_lite_features.sqlite") as db:
        (cached,) = db.execute(
            "SELECT COUNT(*) FROM features WHERE encoder = ?", (encoder.id,)
        ).fetchone()
    assert cached == len({row.tobytes() for row in embedded.vision[embedded.mask]})


def test_fine_tuning_needs_crops_and_the_default_encoder(frozen) -> None:
    from comix_resources.closure_lite.train import train

    with pytest.raises(ValueError, match="crops"):
        train(frozen, ClosureLiteConfig(finetune_vision=True, max_epochs=1))
    resource = ClosureLiteResource(cache_dir="unused", finetune_vision=True, vision_encoder="x/y")
    with pytest.raises(ValueError, match="frozen only"):
        resource.config("base")
