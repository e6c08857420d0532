"""The VLM answer schema: decoding, validation, labels and box conversion."""

from __future__ import annotations

import copy
import json

import pytest

from comix_resources.text import (
    EngineEmpty,
    EngineJSONError,
    EngineSchemaError,
    box_2d_to_bbox,
    parse_vlm_json,
    validate_vlm,
    vlm_items,
)
from comix_resources.text.schema import normalise_label
from tests.text.conftest import VLM_ANSWER


def broken(path: str, value: object) -> dict:
    """VLM_ANSWER with the value at a dotted path replaced (or deleted when value is ...)."""
    data = copy.deepcopy(VLM_ANSWER)
    *parents, last = path.split(".")
    node: object = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if value is ...:
        del node[last]  # type: ignore[attr-defined]
    else:
        node[int(last) if isinstance(node, list) else last] = value  # type: ignore[index]
    return data


def test_valid_answer_in_markdown_fences() -> None:
    content = "Here you go:\n```json\n" + json.dumps(VLM_ANSWER) + "\n```"
    vlm = parse_vlm_json(content)
    assert vlm["overall_summary"] == VLM_ANSWER["overall_summary"]
    assert vlm["panels"][0]["box_2d"] == [0, 0, 500, 1000]


@pytest.mark.parametrize("content", [None, "", "   \n"])
def test_empty_answer(content: str | None) -> None:
    with pytest.raises(EngineEmpty):
        parse_vlm_json(content)


@pytest.mark.parametrize("content", ["I cannot read this page.", '{"overall_summary": "x", "pan'])
def test_not_json(content: str) -> None:
    with pytest.raises(EngineJSONError):
        parse_vlm_json(content)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("overall_summary", ...),  # missing required key
        ("text_content", ...),
        ("panels", "none"),  # wrong type
        ("panels.0.panel_number", "1"),  # strict: a string is not an int
        ("panels.0.box_2d", [0, 0, 500]),  # not 4 numbers
        ("panels.0.box_2d", [0, 0, 500, 1001]),  # out of 0..1000
        ("panels.0.box_2d", [500, 0, 100, 1000]),  # ymin > ymax
        ("panels.0.speakers.0.dialogue", 42),
        ("text_content.0.box_2d", ["a", 0, 1, 1]),
        ("text_content.1.text", ...),
    ],
)
def test_schema_violations(path: str, value: object) -> None:
    with pytest.raises(EngineSchemaError):
        validate_vlm(broken(path, value))


def test_extra_keys_and_null_boxes_are_tolerated() -> None:
    data = broken("text_content.0.box_2d", None)
    data["page_mood"] = "tense"
    vlm = validate_vlm(data)
    assert vlm_items(vlm, 800, 1200)[0].bbox is None


@pytest.mark.parametrize(
    ("label", "speaker", "kind"),
    [
        ("Speech", None, "dialogue"),
        ("speech balloon", None, "dialogue"),
        ("thought", "Ann", "dialogue"),
        ("Caption", None, "narration"),
        ("narrative", None, "narration"),
        ("sound-effect", None, "sfx"),
        ("SFX", None, "sfx"),
        ("onomatopoeia", None, "sfx"),
        ("sign", None, "narration"),  # unknown: nobody speaks
        ("radio", "Bob", "dialogue"),  # unknown: someone speaks
    ],
)
def test_labels(label: str, speaker: str | None, kind: str) -> None:
    assert normalise_label(label, speaker) == kind


def test_box_2d_to_pixels() -> None:
    # [ymin, xmin, ymax, xmax] per mille -> [x, y, w, h] on an 800x1200 page
    assert box_2d_to_bbox([100, 250, 200, 500], 800, 1200) == (200, 120, 200, 120)
    assert box_2d_to_bbox([0, 0, 1000, 1000], 800, 1200) == (0, 0, 800, 1200)


def test_items_without_text_content_come_from_panels() -> None:
    data = copy.deepcopy(VLM_ANSWER)
    data["text_content"] = []
    items = vlm_items(validate_vlm(data), 800, 1200)
    assert [(i.kind, i.text, i.bbox, i.panel_number, i.speaker) for i in items] == [
        ("narration", "Meanwhile...", None, 1, None),
        ("dialogue", "Where is the key?", None, 1, "Ann"),
    ]
