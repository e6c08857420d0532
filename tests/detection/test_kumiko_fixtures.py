"""The contour detector on Kumiko's real test pages (shared/fixtures/kumiko)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from natsort import natsorted

from comix_resources.boxes import iou
from comix_resources.detection import ContourDetector, detect_files, load_image

# Frameless xkcd strips: counts a person reads off the strips.  They are
# reported, not asserted: where a frameless panel ends is a judgement call.
XKCD_STRIPS = [
    "xkcd1526.png",
    "xkcd217.png",
    "xkcd2434.jpg",
    "xkcd2443.jpg",
    "xkcd2444.jpg",
    "xkcd2446.jpg",
    "regular_expressions.jpg",
]


@pytest.mark.parametrize("name", ["simple.png", "xkcd208.png"])
def test_ground_truth_pages(kumiko_dir: Path, name: str) -> None:
    truth = json.loads((kumiko_dir / "ground_truth.json").read_text())["pages"][name]
    detection = ContourDetector().detect(load_image(kumiko_dir / name))
    assert [detection.width, detection.height] == truth["size"]
    found = [panel.bbox for panel in detection.panels]
    assert len(found) == len(truth["panels"]), found
    # Ground truth is listed in reading order, so pairing by position checks the order.
    for got, want in zip(found, truth["panels"], strict=True):
        assert iou(got, tuple(want)) >= 0.8, (got, want)
    assert detection.whole_page is False


def test_frameless_strips_are_reported(
    kumiko_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [kumiko_dir / name for name in XKCD_STRIPS if (kumiko_dir / name).exists()]
    results = detect_files(paths, ContourDetector())
    with capsys.disabled():
        for result in results:
            print(f"\n{Path(result['file']).name}: {len(result['panels'])} panels")
    assert all(result["panels"] for result in results)


def test_detect_files_expands_a_directory_in_natural_order(kumiko_dir: Path) -> None:
    results = detect_files([kumiko_dir], ContourDetector())
    names = [Path(result["file"]).name for result in results]
    assert names == natsorted(names)
    assert "simple.png" in names and not any(n.endswith(".license") for n in names)
    simple = next(r for r in results if r["file"].endswith("simple.png"))
    assert simple["size"] == [848, 1200]
    assert len(simple["panels"]) == 6 and all(len(box) == 4 for box in simple["panels"])
