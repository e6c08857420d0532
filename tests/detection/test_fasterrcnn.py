"""FasterRCNNDetector on randomly initialised checkpoints written by the tests.

The box predictor's biases are set so that one class wins everywhere and the
box regression is zero (boxes are the RPN's proposals): the label mapping,
the threshold and the ordering can then be asserted, not only the types.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from comix_resources.detection import (
    CATEGORY_IDS,
    ContourDetector,
    Detection,
    FasterRCNNDetector,
    PanelDetector,
    detect_files,
    make_detector,
    reading_order,
)
from comix_resources.detection.synthetic import box_polygon, draw_page, random_layout

SMALL = {"min_size": 256, "max_size": 400, "square_size": None}


def _winner_state(num_classes: int, winner: int) -> dict[str, torch.Tensor]:
    """State of torchvision's own untrained model whose predictor always says ``winner``."""
    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)
    return _with_predictor(model.state_dict(), num_classes, winner)


def _with_predictor(
    state: dict[str, torch.Tensor], num_classes: int, winner: int
) -> dict[str, torch.Tensor]:
    """``state`` with a box predictor for ``num_classes`` that always says ``winner``.

    Building one model and swapping heads is much faster than building one per class count.
    """
    bias = torch.full((num_classes,), -10.0)
    bias[winner] = 10.0
    head = "roi_heads.box_predictor."
    return {
        **state,
        f"{head}cls_score.weight": torch.zeros(num_classes, 1024),
        f"{head}cls_score.bias": bias,
        f"{head}bbox_pred.weight": torch.zeros(4 * num_classes, 1024),
        f"{head}bbox_pred.bias": torch.zeros(4 * num_classes),
    }


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    panel5 = _winner_state(5, winner=1)
    # A frozen-BatchNorm state, as from the COCO-pretrained model CoMix fine-tuned.
    frozen = {k: v for k, v in panel5.items() if not k.endswith("num_batches_tracked")}
    saved = {
        "panel5": panel5,
        "wrapped": {"model": frozen, "epoch": 12},
        "prefixed": {"state_dict": {f"module.{k}": v for k, v in panel5.items()}},
        "text8": _with_predictor(panel5, 8, winner=4),
        "six_classes": _with_predictor(panel5, 6, winner=1),
        "not_a_detector": torch.nn.Linear(4, 2).state_dict(),
        "wrong_architecture": {
            "roi_heads.box_predictor.cls_score.weight": torch.zeros(5, 1024),
            "backbone.conv.weight": torch.zeros(8, 3, 3, 3),
        },
    }
    paths = {}
    for name, state in saved.items():
        paths[name] = folder / f"{name}.pth"
        torch.save(state, paths[name])
    paths["garbage"] = folder / "garbage.pth"
    paths["garbage"].write_bytes(b"not a checkpoint")
    return paths


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    """A 256x384 (w x h) synthetic page."""
    size = (256, 384)
    boxes = random_layout(size, np.random.default_rng(3))
    return draw_page([box_polygon(*b) for b in boxes], size)


@pytest.fixture(scope="module")
def panel_detector(checkpoints: dict[str, Path]) -> FasterRCNNDetector:
    return FasterRCNNDetector(checkpoints["panel5"], **SMALL)


@pytest.fixture(scope="module")
def panel_detection(panel_detector: FasterRCNNDetector, page: np.ndarray) -> Detection:
    return panel_detector.detect(page)


@pytest.fixture(scope="module")
def everything_detector(checkpoints: dict[str, Path]) -> FasterRCNNDetector:
    """Threshold 0 and room for every region, so the losing classes show up too."""
    return make_detector(
        "fasterrcnn",
        checkpoint=checkpoints["panel5"],
        score_threshold=0.0,
        max_detections=5000,
        # A square resize also exercises scaling boxes back to the page.
        **{**SMALL, "square_size": 300},
    )


@pytest.fixture(scope="module")
def everything(everything_detector: FasterRCNNDetector, page: np.ndarray) -> Detection:
    return everything_detector.detect(page)


def _assert_in_page(detection: Detection) -> None:
    for panel in detection.panels:
        x, y, w, h = panel.bbox
        assert x >= 0 and y >= 0 and w > 0 and h > 0, panel
        assert x + w <= detection.width and y + h <= detection.height, panel


def _assert_reading_order(detection: Detection, rtl: bool) -> None:
    assert (detection.width, detection.height) == (256, 384)
    assert detection.detector == "fasterrcnn" and not detection.whole_page
    assert detection.panels and all(p.category == "panel" for p in detection.panels)
    assert all(p.score > 0.99 for p in detection.panels)
    assert [p.order for p in detection.panels] == list(range(len(detection.panels)))
    boxes = [p.bbox for p in detection.panels]
    # Already in reading order: reading them again changes nothing.
    assert reading_order(boxes, rtl=rtl) == list(range(len(boxes)))
    _assert_in_page(detection)


def test_panels_come_in_reading_order(
    panel_detector: FasterRCNNDetector, panel_detection: Detection, page: np.ndarray
) -> None:
    assert isinstance(panel_detector, PanelDetector)
    _assert_reading_order(panel_detection, rtl=False)
    rtl = panel_detector.detect(page, rtl=True)
    _assert_reading_order(rtl, rtl=True)
    assert sorted(p.bbox for p in rtl.panels) == sorted(p.bbox for p in panel_detection.panels)


def test_version_is_the_checkpoint_hash(
    panel_detection: Detection, checkpoints: dict[str, Path]
) -> None:
    digest = hashlib.sha256(checkpoints["panel5"].read_bytes()).hexdigest()
    assert panel_detection.detector_version == digest[:12]


@pytest.mark.parametrize("variant", ["wrapped", "prefixed"])
def test_wrapped_and_prefixed_checkpoints_load_the_same_weights(
    variant: str,
    checkpoints: dict[str, Path],
    panel_detection: Detection,
    page: np.ndarray,
) -> None:
    got, want = FasterRCNNDetector(checkpoints[variant], **SMALL).detect(page), panel_detection
    assert [p.bbox for p in got.panels] == [p.bbox for p in want.panels]
    assert got.detector_version != want.detector_version  # another file


def test_threshold_above_one_gives_the_whole_page(
    checkpoints: dict[str, Path], page: np.ndarray
) -> None:
    detection = FasterRCNNDetector(checkpoints["panel5"], score_threshold=1.01, **SMALL).detect(
        page
    )
    assert detection.whole_page
    assert [(p.bbox, p.score, p.order) for p in detection.panels] == [((0, 0, 256, 384), 0.0, 0)]


def test_threshold_zero_keeps_every_category(everything: Detection) -> None:
    _assert_in_page(everything)
    assert {p.category for p in everything.panels} == set(CATEGORY_IDS)
    panels = [p for p in everything.panels if p.category == "panel"]
    others = [p for p in everything.panels if p.category != "panel"]
    assert list(everything.panels) == panels + others
    assert [p.order for p in panels] == list(range(len(panels)))
    assert all(p.order == -1 for p in others)
    assert [p.score for p in others] == sorted((p.score for p in others), reverse=True)


def test_eight_class_checkpoints_use_comix_category_ids(
    checkpoints: dict[str, Path], page: np.ndarray
) -> None:
    # Label 4 is CoMix's category id 4, "text"; no panel, so the page is the panel.
    detection = FasterRCNNDetector(checkpoints["text8"], **SMALL).detect(page)
    assert detection.whole_page
    first, *rest = detection.panels
    assert (first.category, first.bbox, first.order) == ("panel", (0, 0, 256, 384), 0)
    assert rest and all(p.category == "text" and p.order == -1 for p in rest)


def test_labels_override_the_default_mapping(
    checkpoints: dict[str, Path], page: np.ndarray
) -> None:
    # CoMix's "--old" checkpoints: label 1 is text.
    old = ("text", "character", "face", "panel")
    detection = FasterRCNNDetector(checkpoints["panel5"], labels=old, **SMALL).detect(page)
    assert {p.category for p in detection.panels[1:]} == {"text"}
    with pytest.raises(ValueError, match=r"six_classes\.pth has 6 classes"):
        FasterRCNNDetector(checkpoints["six_classes"], **SMALL)
    with pytest.raises(ValueError, match="unknown categories"):
        FasterRCNNDetector(checkpoints["panel5"], labels=("panel", "car", None, None), **SMALL)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "checkpoint not found: .*missing.pth"),
        ("garbage", "cannot read Faster R-CNN checkpoint .*garbage.pth"),
        ("not_a_detector", "not_a_detector.pth is not a torchvision Faster R-CNN"),
        ("wrong_architecture", "wrong_architecture.pth does not fit fasterrcnn_resnet50_fpn"),
    ],
)
def test_unusable_checkpoints_fail_clearly(
    name: str, message: str, checkpoints: dict[str, Path]
) -> None:
    path = checkpoints.get(name, checkpoints["panel5"].parent / f"{name}.pth")
    with pytest.raises(ValueError, match=message):
        FasterRCNNDetector(path)


def test_make_detector(everything_detector: FasterRCNNDetector) -> None:
    assert isinstance(everything_detector, FasterRCNNDetector)
    assert isinstance(make_detector("contour", analysis_size=500), ContourDetector)
    with pytest.raises(ValueError, match="valid names: contour, fasterrcnn"):
        make_detector("yolo")
    with pytest.raises(ValueError, match="checkpoint"):
        make_detector("fasterrcnn")


def test_detect_files_lists_only_panels(
    everything_detector: FasterRCNNDetector, everything: Detection, page: np.ndarray, tmp_path: Path
) -> None:
    Image.fromarray(page).save(tmp_path / "page.png")
    (result,) = detect_files([tmp_path], everything_detector)
    panels = [list(p.bbox) for p in everything.panels if p.category == "panel"]
    assert result["size"] == [256, 384] and result["panels"] == panels


def test_importing_the_package_does_not_load_torch() -> None:
    code = "import sys, comix_resources.detection; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
