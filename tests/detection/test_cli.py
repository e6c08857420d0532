"""``comix panels``: the function behind the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comix_resources.boxes import iou
from comix_resources.detection.cli import panels_command


def test_panels_of_xkcd208_in_reading_order(kumiko_dir: Path) -> None:
    image = kumiko_dir / "xkcd208.png"
    truth = json.loads((kumiko_dir / "ground_truth.json").read_text())["pages"][image.name]
    (result,) = json.loads(panels_command([image], detector="contour", rtl=False, checkpoint=None))
    assert result["file"] == str(image) and result["size"] == truth["size"]
    assert len(result["panels"]) == 8
    # Ground truth is in reading order, so pairing by position checks the order.
    for got, want in zip(result["panels"], truth["panels"], strict=True):
        assert iou(tuple(got), tuple(want)) >= 0.8, (got, want)


def test_user_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.png"):
        panels_command([tmp_path / "nowhere.png"], detector="contour", rtl=False, checkpoint=None)
    with pytest.raises(ValueError, match="valid names: contour, fasterrcnn"):
        panels_command([tmp_path], detector="kumiko", rtl=False, checkpoint=None)
    with pytest.raises(ValueError, match="checkpoint applies to the fasterrcnn"):
        panels_command([tmp_path], detector="contour", rtl=False, checkpoint=tmp_path / "x.pth")
    with pytest.raises(ValueError, match="checkpoint not found"):
        panels_command([tmp_path], detector="fasterrcnn", rtl=False, checkpoint=tmp_path / "x.pth")


def test_an_empty_directory_gives_an_empty_list(tmp_path: Path) -> None:
    assert (
        json.loads(panels_command([tmp_path], detector="contour", rtl=False, checkpoint=None)) == []
    )
