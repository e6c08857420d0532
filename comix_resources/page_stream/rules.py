"""The rule-based page classifier: a first run's page types, with no training and no encoders.

It reads only ``SCALAR_FEATURES`` (position, the quality filter's verdict, picture panel
count, amount of text). In page order, for each page:

1. not comic (the quality filter's ``is_comic`` is false) -> ``non_comic``;
2. the first comic page -> ``cover``; the last comic page of a book of 3+ comic pages ->
   ``back_cover`` (non-comic pages after it, such as a scanner's notes, do not move it);
3. a lot of text (``LONG_TEXT_CHARS`` characters or ``TEXT_AREA`` of the page under text
   boxes) on at most one picture panel -> ``textstory`` (prose with an illustration);
4. ``STORY_PANELS`` or more panels -> ``story``, or ``first-page`` when it opens a story:
   it is the book's first such page, or it follows a credits, advertisement or text story
   page (an art page inside a story does not end the story);
5. at most one panel and almost no text (``ART_MAX_CHARS``) -> ``art`` (a pin-up);
6. one panel with some text, right after a story page -> ``story`` (a splash page);
7. other pages with text and no panel layout: before the first story page -> ``credits``,
   after it -> ``advertisement``.

Probabilities are fixed confidences per rule (``CONFIDENCE``), the rest spread evenly over
the other classes: they rank pages for review, they are not calibrated.
"""

from __future__ import annotations

import numpy as np

from comix_resources.page_classes import PAGE_CLASSES
from comix_resources.page_stream.features import BookFeatures

LONG_TEXT_CHARS = 1000
TEXT_AREA = 0.2
STORY_PANELS = 2
ART_MAX_CHARS = 25
CONFIDENCE = {
    "non_comic": 0.9,
    "cover": 0.85,
    "back_cover": 0.75,
    "textstory": 0.75,
    "story": 0.8,
    "first-page": 0.65,
    "art": 0.55,
    "credits": 0.55,
    "advertisement": 0.6,
}
_OPENS_STORY_AFTER = {"credits", "advertisement", "textstory", "cover"}


def rule_labels(book: BookFeatures) -> list[str]:
    """One page class per page of ``book`` (see the module docstring for the rules)."""
    s = {name: book.scalar(name) for name in ("is_comic", "is_first_comic", "is_last_comic")}
    panels = book.scalar("panel_count")
    chars = book.scalar("text_chars")
    area = book.scalar("text_area_fraction")
    comic_pages = int(s["is_comic"].sum())
    labels: list[str] = []
    seen_story = False
    previous: str | None = None  # class of the previous comic page
    for i in range(len(book)):
        if not s["is_comic"][i]:
            labels.append("non_comic")
            continue
        if s["is_first_comic"][i]:
            label = "cover"
        elif s["is_last_comic"][i] and comic_pages >= 3:
            label = "back_cover"
        elif (chars[i] >= LONG_TEXT_CHARS or area[i] >= TEXT_AREA) and panels[i] <= 1:
            label = "textstory"
        elif panels[i] >= STORY_PANELS:
            opens = not seen_story or previous in _OPENS_STORY_AFTER
            label = "first-page" if opens else "story"
            seen_story = True
        elif chars[i] < ART_MAX_CHARS:
            label = "art"
        elif panels[i] == 1 and previous in ("story", "first-page"):
            label = "story"
        else:
            label = "advertisement" if seen_story else "credits"
        labels.append(label)
        previous = label
    return labels


def rule_probabilities(labels: list[str], classes: tuple[str, ...] = PAGE_CLASSES) -> np.ndarray:
    """(n, C) probabilities: the rule's confidence on its class, the rest spread evenly."""
    out = np.zeros((len(labels), len(classes)), np.float32)
    for i, label in enumerate(labels):
        p = CONFIDENCE[label]
        out[i] = (1 - p) / (len(classes) - 1)
        out[i, classes.index(label)] = p
    return out


class RulePredictor:
    """The rule fallback behind the same ``predict`` as ``PageStreamPredictor``."""

    classes: tuple[str, ...] = PAGE_CLASSES
    name = "rules"

    def predict(self, book: BookFeatures) -> tuple[list[str], np.ndarray]:
        """``(labels, probabilities (n, C))`` for one book."""
        labels = rule_labels(book)
        return labels, rule_probabilities(labels, self.classes)
