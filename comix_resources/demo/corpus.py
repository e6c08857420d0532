"""Text corpus for the demo library: word lists and sentence makers.

Everything is real English so that OCR output can be compared with the ground truth:
dialogue for balloons, narration for caption boxes, sound effects, prose for text stories,
advertisement copy, credits, and the "computing book" pages that pollute real collections.
All functions take a ``random.Random`` so the output depends only on the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES = [
    "Nova",
    "Rex",
    "Mara",
    "Jonah",
    "Kit",
    "Ada",
    "Vance",
    "Luna",
    "Otto",
    "Iris",
    "Dex",
    "Sable",
    "Hugo",
    "Wren",
    "Zeke",
    "Cora",
]
PLACES = [
    "the harbor",
    "the old mill",
    "the moon base",
    "the docks",
    "the canyon",
    "the city",
    "the station",
    "the reef",
    "the tower",
    "the jungle",
    "the outpost",
    "the museum",
]
NOUNS = [
    "signal",
    "engine",
    "map",
    "key",
    "ship",
    "storm",
    "door",
    "crystal",
    "plan",
    "radio",
    "bridge",
    "lantern",
    "robot",
    "shadow",
    "beacon",
    "vault",
]
ADJECTIVES = [
    "broken",
    "ancient",
    "silent",
    "strange",
    "bright",
    "hidden",
    "frozen",
    "secret",
    "golden",
    "heavy",
    "empty",
    "distant",
]
VERBS = ["find", "stop", "follow", "open", "save", "repair", "catch", "guard", "reach", "warn"]

_DIALOGUE = [
    "{name}, look out!",
    "We have to {verb} the {noun}!",
    "Did you hear that?",
    "The {noun} is {adj}!",
    "Stay close to me.",
    "Where is the {noun}?",
    "I knew it was a trap!",
    "Run for {place}!",
    "Not so fast, {name}!",
    "This {noun} looks {adj}.",
    "Hold on tight!",
    "We can still {verb} it!",
    "Follow me to {place}.",
    "Who sent you here?",
    "That was too close!",
    "Give me the {noun}, {name}.",
    "Nobody leaves {place}!",
    "Is everyone all right?",
]
_NARRATION = [
    "Meanwhile, at {place}...",
    "Later that night...",
    "Far below {place}, a {adj} {noun} waits.",
    "Nobody saw the {noun} arrive.",
    "The next morning...",
    "Three hours earlier...",
    "At last, {name} reaches {place}.",
    "The {adj} {noun} hums in the dark.",
    "Miles away, {name} keeps watch.",
    "Dawn breaks over {place}.",
]
# A character's recurring exclamation: real casts have them, and they tie a book's pages
# together in what is said, as the cast does in what is drawn.
CATCHPHRASES = [
    "Great comets!",
    "Blast it all!",
    "Holy smokes!",
    "By the stars!",
    "Jumping jupiter!",
    "Leave it to me!",
    "Not on my watch!",
    "Steady as she goes!",
    "Thunder and lightning!",
    "Well, I never!",
    "Shiver me timbers!",
    "Time to go to work!",
    "Easy does it.",
    "Curses, foiled again!",
    "Now we are cooking!",
    "Keep your chin up!",
]
SOUND_EFFECTS = [
    "KRAK!",
    "WHOOSH",
    "BOOM!",
    "ZAP!",
    "BLAM!",
    "THUD",
    "CRASH!",
    "KA-POW!",
    "SPLASH",
    "VROOM",
    "BZZT!",
    "CLANG!",
]

_PROSE = [
    "The wind came off {place} in long cold gusts, and {name} pulled the collar of the coat "
    "higher.",
    "Nobody in town believed the story about the {adj} {noun}, but {name} had seen it with "
    "both eyes.",
    "For three days the {noun} had been silent, and the silence was worse than any noise.",
    "{name} counted the steps to the door, then counted them again, because numbers were "
    "easier than fear.",
    "Somewhere beyond {place} a light blinked twice, paused, and blinked twice again.",
    "It was a {adj} night, the kind of night when old promises come back to be kept.",
    "The letter said only that the {noun} must never be opened before the first snow.",
    "When the engines finally stopped, the crew listened to the ship settle and creak.",
    "{name} had learned long ago that the quiet ones were always the most dangerous.",
    "By the time the sheriff arrived, the {noun} was gone and the road was empty.",
]

COMPUTING_PROSE = [
    "A variable is a name that refers to a value stored in memory. When the program runs, "
    "the interpreter looks up the name and returns the value it currently holds.",
    "Loops let a program repeat a block of statements. A while loop checks its condition "
    "before every iteration, so the body may never run at all if the condition is false.",
    "Functions group statements under a single name. Calling a function transfers control "
    "to its body, and the return statement sends a result back to the caller.",
    "The compiler translates source code into machine instructions. Each pass of the "
    "compiler checks syntax, resolves names, and finally emits optimized code.",
    "An array stores elements of the same type in consecutive memory cells, so any element "
    "can be reached in constant time by its index.",
    "Recursion occurs when a function calls itself. Every recursive function needs a base "
    "case, otherwise the call stack grows until the program runs out of memory.",
    "A hash table maps keys to values. The hash function turns each key into an index, and "
    "collisions are resolved by chaining or by open addressing.",
    "Good programs handle errors explicitly. Check the return value of every system call "
    "and report failures with a clear message to the user.",
    "Sorting is one of the most studied problems in computer science. Merge sort divides "
    "the input in halves, sorts each half, and merges the results.",
    "Binary search works only on sorted data. It compares the key with the middle element "
    "and discards half of the remaining elements at every step.",
]
COMPUTING_HEADINGS = [
    "Chapter 7: Control Flow",
    "Chapter 9: Data Structures",
    "Appendix B: Sorting and Searching",
    "Chapter 4: Functions and Scope",
]
CODE_BLOCKS = [
    [
        "def binary_search(items, key):",
        "    low, high = 0, len(items) - 1",
        "    while low <= high:",
        "        mid = (low + high) // 2",
        "        if items[mid] == key:",
        "            return mid",
        "        if items[mid] < key:",
        "            low = mid + 1",
        "        else:",
        "            high = mid - 1",
        "    return -1",
    ],
    [
        "int factorial(int n) {",
        "    if (n <= 1) {",
        "        return 1;",
        "    }",
        "    return n * factorial(n - 1);",
        "}",
    ],
    [
        "for i in range(10):",
        "    total = total + i",
        "print('sum is', total)",
    ],
]

PRODUCTS = [
    ("X-RAY GOGGLES", "See through walls! Amaze your friends!"),
    ("ROCKET SNEAKERS", "Jump higher than ever before!"),
    ("SEA GARDEN KIT", "Grow your own living reef at home!"),
    ("SPY RADIO WATCH", "Talk to your pals from a mile away!"),
    ("MUSCLE COURSE", "Build a mighty body in just 7 days!"),
    ("MAGIC CARD SET", "Fool everyone with 50 easy tricks!"),
]
PRICES = ["$1.99", "$2.49", "$0.99", "$3.98", "$1.49"]

CREATORS = [
    "Ellen Marsh",
    "Tom Okafor",
    "Rita Vasquez",
    "Sam Lindqvist",
    "Jun Park",
    "Carla Mendes",
    "Victor Hale",
    "Nadia Brooks",
]


@dataclass(frozen=True)
class Vocabulary:
    """The words of one book: its cast's names, its places and things, and catchphrases.

    Dialogue and captions drawn from it keep returning to the same names and objects over
    a book's pages, as a real story does, while another book talks about other things.
    """

    names: tuple[str, ...]
    places: tuple[str, ...]
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs: tuple[str, ...]
    catchphrases: tuple[str, ...]
    sound_effects: tuple[str, ...]


EVERYTHING = Vocabulary(
    tuple(NAMES),
    tuple(PLACES),
    tuple(NOUNS),
    tuple(ADJECTIVES),
    tuple(VERBS),
    tuple(CATCHPHRASES),
    tuple(SOUND_EFFECTS),
)


def vocabulary(rng: random.Random, names: list[str]) -> Vocabulary:
    """A book's vocabulary: ``names`` (its cast) and a few of every other word list."""
    return Vocabulary(
        names=tuple(names),
        places=tuple(rng.sample(PLACES, 3)),
        nouns=tuple(rng.sample(NOUNS, 4)),
        adjectives=tuple(rng.sample(ADJECTIVES, 3)),
        verbs=tuple(rng.sample(VERBS, 3)),
        catchphrases=tuple(rng.sample(CATCHPHRASES, 2)),
        sound_effects=tuple(rng.sample(SOUND_EFFECTS, 4)),
    )


def _fill(template: str, rng: random.Random, words: Vocabulary = EVERYTHING) -> str:
    return template.format(
        name=rng.choice(words.names),
        place=rng.choice(words.places),
        noun=rng.choice(words.nouns),
        adj=rng.choice(words.adjectives),
        verb=rng.choice(words.verbs),
    )


def dialogue(rng: random.Random, words: Vocabulary = EVERYTHING) -> str:
    """A short line of dialogue for a speech balloon."""
    if rng.random() < 0.15:
        return rng.choice(words.catchphrases)
    return _fill(rng.choice(_DIALOGUE), rng, words)


def narration(rng: random.Random, words: Vocabulary = EVERYTHING) -> str:
    """A short narration line for a caption box."""
    return _fill(rng.choice(_NARRATION), rng, words)


def sound_effect(rng: random.Random, words: Vocabulary = EVERYTHING) -> str:
    return rng.choice(words.sound_effects)


def prose_paragraph(rng: random.Random, sentences: int = 4, words: Vocabulary = EVERYTHING) -> str:
    """A paragraph of fiction prose for text-story pages."""
    return " ".join(_fill(rng.choice(_PROSE), rng, words) for _ in range(sentences))


def computing_paragraph(rng: random.Random, sentences: int = 2) -> str:
    """A paragraph from an imaginary programming textbook (non-comic pollution)."""
    picks = rng.sample(COMPUTING_PROSE, sentences)
    return " ".join(picks)


def story_title(rng: random.Random, words: Vocabulary = EVERYTHING) -> str:
    return rng.choice(
        [
            f"The {rng.choice(words.adjectives).title()} {rng.choice(words.nouns).title()}",
            f"Return to {rng.choice(words.places)[4:].title()}",
            f"Night of the {rng.choice(words.nouns).title()}",
            f"{rng.choice(words.names)} and the {rng.choice(words.nouns).title()}",
        ]
    )
