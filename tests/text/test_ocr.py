"""RapidOCR on a drawn page: sentences, boxes, and dialogue/narration/sfx labels."""

from __future__ import annotations

import pytest

from comix_resources.benchmarks.ocr import TruthPage, run_ocr_benchmark, sample_page, text_ratio
from comix_resources.text import OcrEngine, PageInput, TextCascade, TextItem
from comix_resources.text.ocr import _Line, group_lines, join_lines


@pytest.fixture(scope="module")
def drawn() -> TruthPage:
    return sample_page()


@pytest.fixture(scope="module")
def items(drawn: TruthPage) -> tuple[TextItem, ...]:
    page = PageInput("sample-0000", drawn.image)
    result = TextCascade([OcrEngine()]).extract_pages([page])[0]
    assert (result.status, result.engine, result.attempts) == ("ok", "ocr", 1)
    return result.items


def _iou(a: tuple[int, int, int, int] | None, b: list[int]) -> float:
    if a is None:
        return 0.0
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_every_text_is_recovered_with_its_box_and_kind(
    drawn: TruthPage, items: tuple[TextItem, ...]
) -> None:
    assert len(items) == len(drawn.texts)
    for truth in drawn.texts:
        best = max(items, key=lambda item: text_ratio(item.text, truth["text"]))
        assert text_ratio(best.text, truth["text"]) > 0.8, (truth, best)
        assert _iou(best.bbox, truth["bbox"]) > 0.6, (truth, best)  # OCR boxes are padded
        assert best.kind == truth["kind"], (truth, best)
        assert best.confidence is not None and best.confidence > 0.5


def test_named_items(items: tuple[TextItem, ...]) -> None:
    by_text = {item.text: item.kind for item in items}
    assert by_text["KRAKOOM!"] == "sfx"
    assert by_text["Meanwhile, across the city the storm was gathering."] == "narration"
    assert by_text["Where did you hide the golden key?"] == "dialogue"


def test_blank_page_has_no_items() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 400), "white").save(buf, "PNG")
    assert OcrEngine().extract(buf.getvalue(), 300, 400).items == ()


def line(x0: float, y0: float, x1: float, y1: float, text: str = "word") -> _Line:
    return _Line(x0, y0, x1, y1, y1 - y0, text, 0.99)


def test_grouping_stacks_lines_of_one_balloon_only() -> None:
    lines = [
        line(100, 100, 300, 125, "Where did you"),
        line(130, 128, 270, 153, "hide it?"),  # centred under the first: same balloon
        line(100, 300, 300, 325, "Far below"),  # far below: another balloon
        line(400, 100, 600, 125, "Elsewhere"),  # beside: another column
        line(100, 160, 300, 220, "BOOM"),  # right under, but glyphs twice as big
    ]
    groups = [[ln.text for ln in g] for g in group_lines(lines)]
    assert groups == [["Where did you", "hide it?"], ["Elsewhere"], ["BOOM"], ["Far below"]]


def test_join_lines_mends_hyphenation() -> None:
    assert join_lines(["We have to", "evac-", "uate now!"]) == "We have to evacuate now!"
    assert join_lines(["SPIDER-", "MAN!"]) == "SPIDER- MAN!"


@pytest.mark.slow
def test_benchmark_reports_speed_and_recall(drawn: TruthPage) -> None:
    report = run_ocr_benchmark([drawn], repeats=1)
    assert report["pages_per_s"] > 0
    assert report["recall"] == 1.0 and report["kind_accuracy"] == 1.0


def _reference_region(image, box, line_h, pad, tolerance=40):
    """The region search written the slow, obvious way: every component labelled."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    x0, y0, x1, y1 = (round(v) for v in box)
    wx0, wy0, wx1, wy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    crop = image[wy0:wy1, wx0:wx1].astype(np.int16)
    bx0, by0, bx1, by1 = x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0
    background = np.median(crop[by0:by1, bx0:bx1].reshape(-1, 3), axis=0)
    mask = (np.abs(crop - background).max(axis=2) <= tolerance).astype(np.uint8)
    shrink = max(1, round(0.2 * line_h))
    mask[by0 + shrink : by1 - shrink, bx0 + shrink : bx1 - shrink] = 1
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    label = labels[(by0 + by1) // 2, (bx0 + bx1) // 2]
    if label == 0:
        return None
    rx, ry, rw, rh, area = stats[label]
    return (rx == 0 or ry == 0 or rx + rw == crop.shape[1] or ry + rh == crop.shape[0]), area


def test_text_regions_match_a_full_labelling(drawn: TruthPage) -> None:
    """The flood-filled region around each text is the component a full labelling finds,
    and the drawn page's caption box is a closed rectangle while its balloons are not."""
    import numpy as np

    from comix_resources.images import load_rgb
    from comix_resources.text.ocr import _region, container

    image = load_rgb(drawn.image)
    lines = OcrEngine().read_lines(image)
    fills = {}
    for group in group_lines(lines):
        box = (min(x.x0 for x in group), min(x.y0 for x in group))
        box += (max(x.x1 for x in group), max(x.y1 for x in group))
        line_h = min(x.height for x in group)
        for pad in (5, 40, 400):
            got = _region(image, box, line_h, pad, 40)
            want = _reference_region(image, box, line_h, pad)
            assert (got is None) == (want is None)
            if got is not None:
                assert (got["open"], got["area"]) == (bool(want[0]), int(want[1]))
        region = container(image, box, line_h)
        fills[" ".join(x.text for x in group)] = region and region["fill"]
    caption = next(v for k, v in fills.items() if k.startswith("Meanwhile"))
    balloon = next(v for k, v in fills.items() if k.startswith("Where did"))
    assert caption is not None and caption >= 0.9
    assert balloon is not None and balloon < 0.9
    assert np.isfinite(caption)


def test_latin_alphabet_cuts_the_classifier_and_reads_the_same(drawn: TruthPage) -> None:
    import numpy as np
    import onnxruntime as ort

    from comix_resources.images import load_rgb
    from comix_resources.text.ocr import _models_dir, latin_character, restricted_recognizer

    assert all(latin_character(c) for c in "Aéß€…“”!?♥♪0")
    assert not any(latin_character(c) for c in "漢字かな■")
    model, characters = restricted_recognizer(
        _models_dir() / "PP-OCRv6_rec_small.onnx", latin_character
    )
    assert 500 < len(characters) < 1000 and "a" in characters and "漢" not in characters
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    scores = session.run(None, {"x": np.zeros((1, 3, 48, 96), np.float32)})[0]
    assert scores.shape[-1] == len(characters) + 2  # CTC's blank and the space kept
    image = load_rgb(drawn.image)
    latin, every = OcrEngine(), OcrEngine(alphabet="all")
    assert latin.model.endswith("/latin") and latin.model != every.model  # cache keys differ
    assert [x.text for x in latin.read_lines(image)] == [x.text for x in every.read_lines(image)]
    with pytest.raises(ValueError, match="alphabet"):
        OcrEngine(alphabet="klingon")
