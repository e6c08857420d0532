"""The VLM answer: the prompt that asks for it, its schema, and its conversion to items.

Every VLM engine (OpenAI-compatible endpoints, local transformers models) asks for the same
JSON with the same prompt, and parses the answer here, so a model that drifts from the schema
is caught the same way wherever it runs. ``box_2d`` is ``[ymin, xmin, ymax, xmax]`` scaled to
0-1000 of the page (Gemini's convention, which Qwen and Gemma follow when asked).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from comix_resources.text.base import (
    Box,
    EngineEmpty,
    EngineJSONError,
    EngineSchemaError,
    TextItem,
)

# Bump when the prompt or the schema changes: it is part of the cache key, so old answers
# are not served for the new question.
PROMPT_VERSION = "vlm-v1"

VLM_PROMPT = """\
You read one comic page. Answer with a single JSON object and nothing else, of this form:
{
  "overall_summary": "what happens on the page, 1-3 sentences",
  "panels": [
    {
      "panel_number": 1,
      "box_2d": [ymin, xmin, ymax, xmax],
      "caption": "narration caption text in this panel, or an empty string",
      "description": "what the panel shows",
      "speakers": [{"character": "name", "dialogue": "exact words", "speech_type": "speech"}],
      "key_elements": ["object or place"],
      "actions": ["what characters do"]
    }
  ],
  "characters": ["every character name"],
  "text_content": [
    {"label": "dialogue", "speaker": "name or null", "text": "exact words",
     "box_2d": [ymin, xmin, ymax, xmax]}
  ]
}
Rules: panels in reading order, numbered from 1. Coordinates are integers from 0 to 1000,
relative to the page height (y) and width (x). speech_type is one of speech, thought, whisper,
shout. text_content lists every balloon, caption and sound effect once, with label dialogue,
narration or sfx, and its text exactly as printed (join the lines of a balloon with spaces).
"""

_Coord = Annotated[float, Field(ge=0, le=1000)]


class _Strict(BaseModel):
    # strict: "3" is not a number and 3 is not a string; extra keys are tolerated because
    # models like to add fields, which costs nothing.
    model_config = ConfigDict(strict=True, extra="ignore")


def _check_box(box: list[float] | None) -> list[float] | None:
    if box is None:
        return None
    if len(box) != 4:
        raise ValueError("box_2d must have 4 numbers [ymin, xmin, ymax, xmax]")
    ymin, xmin, ymax, xmax = box
    if ymin > ymax or xmin > xmax:
        raise ValueError("box_2d must be [ymin, xmin, ymax, xmax] with min <= max")
    return box


class Speaker(_Strict):
    character: str | None = None
    dialogue: str
    speech_type: str | None = None


class VlmPanel(_Strict):
    panel_number: int
    box_2d: list[_Coord]
    caption: str | None = None
    description: str = ""
    speakers: list[Speaker] = Field(default_factory=list)
    key_elements: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)

    @field_validator("box_2d")
    @classmethod
    def _valid_box(cls, box: list[float]) -> list[float] | None:
        return _check_box(box)


class VlmText(_Strict):
    label: str
    text: str
    speaker: str | None = None
    box_2d: list[_Coord] | None = None

    @field_validator("box_2d")
    @classmethod
    def _valid_box(cls, box: list[float] | None) -> list[float] | None:
        return _check_box(box)


class VlmPage(_Strict):
    overall_summary: str
    panels: list[VlmPanel]
    characters: list[str | dict[str, Any]]
    text_content: list[VlmText]


# Labels that models use, normalised (lower case, "_" for spaces and hyphens).
_LABELS = {
    "dialogue": "dialogue",
    "dialog": "dialogue",
    "speech": "dialogue",
    "speech_balloon": "dialogue",
    "speech_bubble": "dialogue",
    "balloon": "dialogue",
    "bubble": "dialogue",
    "thought": "dialogue",
    "whisper": "dialogue",
    "shout": "dialogue",
    "narration": "narration",
    "narrative": "narration",
    "narrator": "narration",
    "caption": "narration",
    "text_box": "narration",
    "sfx": "sfx",
    "sound_effect": "sfx",
    "sound": "sfx",
    "onomatopoeia": "sfx",
}

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def normalise_label(label: str, speaker: str | None = None) -> str:
    """Map a model's label to dialogue/narration/sfx; unknown ones by whether someone speaks."""
    key = re.sub(r"[\s\-]+", "_", label.strip().lower())
    if key in _LABELS:
        return _LABELS[key]
    return "dialogue" if speaker else "narration"


def parse_vlm_json(content: str | None) -> dict[str, Any]:
    """Decode and validate a VLM answer; raise EngineEmpty, EngineJSONError or EngineSchemaError.

    Models wrap JSON in markdown fences or add a sentence around it, so the outermost
    ``{...}`` is taken. The returned dict is the validated model dump (defaults filled in).
    """
    text = (content or "").strip()
    if not text:
        raise EngineEmpty("the model returned no content")
    text = _FENCE.sub("", text).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise EngineJSONError(f"no JSON object in the answer ({len(text)} chars)")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise EngineJSONError(f"invalid JSON: {exc.msg} at char {exc.pos}") from exc
    return validate_vlm(data)


def validate_vlm(data: Any) -> dict[str, Any]:
    """Validate decoded JSON against the VLM schema; raise EngineSchemaError on a mismatch."""
    try:
        page = VlmPage.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise EngineSchemaError(
            f"{exc.error_count()} schema error(s), first at {where}: {first['msg']}"
        ) from exc
    return page.model_dump()


def box_2d_to_bbox(box: list[float], width: int, height: int) -> Box:
    """[ymin, xmin, ymax, xmax] in 0-1000 -> [x, y, w, h] in page pixels."""
    ymin, xmin, ymax, xmax = box
    x0, y0 = round(xmin * width / 1000), round(ymin * height / 1000)
    x1, y1 = round(xmax * width / 1000), round(ymax * height / 1000)
    return (x0, y0, x1 - x0, y1 - y0)


def _squash(text: str) -> str:
    return re.sub(r"\W+", "", text).lower()


def vlm_items(vlm: dict[str, Any], width: int, height: int) -> tuple[TextItem, ...]:
    """The page's text items from a validated VLM answer.

    ``text_content`` is preferred because it has boxes; its panel number is taken from the
    panel whose ``speakers`` or caption hold the same words. Without ``text_content``, the
    panels' dialogue and captions become items without boxes.
    """
    by_words: dict[str, int] = {}
    for panel in vlm["panels"]:
        for speaker in panel["speakers"]:
            by_words.setdefault(_squash(speaker["dialogue"]), panel["panel_number"])
        if panel["caption"]:
            by_words.setdefault(_squash(panel["caption"]), panel["panel_number"])

    items: list[TextItem] = []
    for entry in vlm["text_content"]:
        if not entry["text"].strip():
            continue
        box = entry["box_2d"]
        items.append(
            TextItem(
                text=entry["text"].strip(),
                kind=normalise_label(entry["label"], entry["speaker"]),
                bbox=box_2d_to_bbox(box, width, height) if box is not None else None,
                speaker=entry["speaker"],
                panel_number=by_words.get(_squash(entry["text"])),
            )
        )
    if items:
        return tuple(items)

    for panel in vlm["panels"]:
        number = panel["panel_number"]
        if panel["caption"] and panel["caption"].strip():
            items.append(TextItem(panel["caption"].strip(), "narration", None, None, number))
        for speaker in panel["speakers"]:
            if speaker["dialogue"].strip():
                items.append(
                    TextItem(
                        speaker["dialogue"].strip(), "dialogue", None, speaker["character"], number
                    )
                )
    return tuple(items)
