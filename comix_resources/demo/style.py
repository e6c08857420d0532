"""Per-book house style of the demo library: the look and the voice every page of a book shares.

A real comic is drawn by one artist, coloured by one colourist and lettered by one letterer,
so its pages share paper, palette, line weight, panel frames, balloon shapes, a recurring
cast and the words its characters use, while another book looks and reads differently. The
demo pages used to draw all of that anew for every page, which left nothing in a page to
say which book it came from. ``book_style`` draws one ``BookStyle`` per book from its own
random generator, so a book's style does not depend on how many pages came before.

The choices stay inside what the detectors and OCR were tuned on: light paper, black panel
frames of 3-5 pixels, white elliptical balloons (the OCR calls a white non-rectangular
container dialogue) and tinted rectangular captions (narration).
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass

from comix_resources.demo import corpus

Color = tuple[int, int, int]

# Light papers only: the panel detector estimates the paper from the page border and the
# quality filter expects comic pages to be bright.
PAPER_TINTS: tuple[Color, ...] = (
    (255, 255, 255),
    (250, 246, 232),
    (246, 240, 222),
    (240, 236, 218),
    (243, 243, 238),
    (246, 248, 252),
    (252, 244, 240),
)
CAPTION_FILLS: tuple[Color, ...] = (
    (255, 236, 150),
    (255, 222, 180),
    (210, 232, 255),
    (220, 245, 210),
    (245, 220, 245),
    (255, 250, 200),
)
SKIN_TONES: tuple[Color, ...] = ((245, 205, 170), (215, 165, 120), (160, 110, 75), (110, 75, 50))
HAIR_COLORS: tuple[Color, ...] = ((40, 25, 10), (200, 160, 60), (120, 50, 20), (30, 30, 35))
SETTINGS = ("day", "dusk", "night", "space", "sea")
BUILDS = ("slim", "broad", "round", "caped")
HEADS = ("round", "square")
HATS = (None, "cap", "tophat", "helmet", "hood")
EMBLEMS = (None, "star", "circle", "bolt")
SCREENS = ("flat", "dots", "hatch")
GOLDEN = 0.6180339887498949  # spreads hues of consecutive books around the colour wheel


def hsv(hue: float, saturation: float, value: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


@dataclass(frozen=True)
class Character:
    """One member of a book's cast, drawn the same way on every page."""

    name: str
    shirt: Color
    trousers: Color
    accent: Color  # cape, hat band, emblem
    skin: Color
    hair: Color | None
    build: str  # one of BUILDS
    head: str  # one of HEADS
    hat: str | None  # one of HATS
    emblem: str | None  # one of EMBLEMS
    scale: float  # height relative to the panel's figure height


@dataclass(frozen=True)
class BookStyle:
    paper: Color
    # Colourist: scene settings (sky kinds) the book uses, with the weight of each, the
    # colours its grounds and buildings come in, and a colour cast laid over all panel art.
    settings: tuple[str, ...]
    setting_weights: tuple[float, ...]
    grounds: tuple[Color, ...]
    building: Color
    window: Color
    grade: Color
    grade_strength: float
    # Printing: flat colour, Ben-Day dots or hatching over the art, with its pitch in pixels.
    screen: str
    screen_step: int
    # Artist: the cast and the weight of the outlines.
    cast: tuple[Character, ...]
    line_scale: float
    frame: int
    gutter: float
    margins: tuple[int, int]  # x, y
    # Letterer: balloon proportions and outline, lettering size and case, captions, SFX.
    balloon_aspect: float  # > 1 makes balloons wider than the text needs, < 1 rounder
    balloon_outline: int
    tail: str  # "wedge" or "curved"
    lettering: int
    uppercase: bool
    caption_fill: Color
    sfx_colors: tuple[Color, ...]
    vocabulary: corpus.Vocabulary

    def letter(self, text: str) -> str:
        """Text as this book's letterer writes it (many letter in capitals only)."""
        return text.upper() if self.uppercase else text


def _character(rng: random.Random, name: str, hue: float) -> Character:
    # Costume hues sit around the book's hue but apart from one another, so members of a
    # cast are told apart and the cast as a whole still reads as this book's.
    return Character(
        name=name,
        shirt=hsv(hue + rng.uniform(-0.5, 0.5), rng.uniform(0.55, 0.95), rng.uniform(0.55, 0.95)),
        trousers=hsv(hue + rng.uniform(-0.5, 0.5), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.6)),
        accent=hsv(hue + rng.uniform(-0.2, 0.2), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0)),
        skin=rng.choice(SKIN_TONES),
        hair=rng.choice(HAIR_COLORS) if rng.random() < 0.8 else None,
        build=rng.choice(BUILDS),
        head=rng.choice(HEADS),
        hat=rng.choice(HATS),
        emblem=rng.choice(EMBLEMS),
        scale=rng.uniform(0.85, 1.1),
    )


def book_style(rng: random.Random, hue: float | None = None) -> BookStyle:
    """A book's style from ``rng``; ``hue`` (0..1) sets its colour cast, so that a caller
    can keep the books of a library apart on the colour wheel."""
    hue = rng.random() if hue is None else hue
    settings = tuple(rng.sample(SETTINGS, 2))
    names = rng.sample(corpus.NAMES, rng.randint(2, 4))
    lettering = rng.choice([19, 20, 21, 22])
    return BookStyle(
        paper=rng.choice(PAPER_TINTS),
        settings=settings,
        setting_weights=(rng.uniform(0.6, 0.8), 0.3),
        grounds=(
            hsv(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.6)),
            hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.7)),
        ),
        building=hsv(
            hue + rng.uniform(-0.15, 0.15), rng.uniform(0.15, 0.45), rng.uniform(0.3, 0.5)
        ),
        window=hsv(rng.uniform(0.1, 0.18), rng.uniform(0.3, 0.7), 1.0),
        grade=hsv(hue, rng.uniform(0.35, 0.55), 1.0),
        grade_strength=rng.uniform(0.45, 0.75),
        screen=rng.choice(SCREENS),
        screen_step=rng.randint(4, 7),
        cast=tuple(_character(rng, name, hue) for name in names),
        line_scale=rng.choice([0.7, 1.0, 1.5, 2.0]),
        frame=rng.choice([3, 4, 5]),
        gutter=rng.uniform(13, 20),
        margins=(rng.randint(34, 48), rng.randint(38, 56)),
        balloon_aspect=rng.uniform(0.9, 1.15),
        balloon_outline=rng.choice([1, 2, 3]),
        tail=rng.choice(["wedge", "curved"]),
        lettering=lettering,
        uppercase=rng.random() < 0.5,
        caption_fill=rng.choice(CAPTION_FILLS),
        sfx_colors=(hsv(hue + 0.5, 0.9, 1.0), hsv(rng.uniform(0.0, 0.17), 0.9, 1.0)),
        vocabulary=corpus.vocabulary(rng, names),
    )


def library_hue(offset: float, position: int) -> float:
    """Hue of the ``position``-th book: golden-ratio steps keep any few books far apart."""
    return (offset + position * GOLDEN) % 1.0
