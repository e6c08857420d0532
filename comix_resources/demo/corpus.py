"""Text corpus for the demo library: word lists and sentence makers.

Everything is real English so that OCR output can be compared with the ground truth:
dialogue for balloons, narration for caption boxes, sound effects, prose for text stories,
advertisement copy, credits, and the "computing book" pages that pollute real collections.
All functions take a ``random.Random`` so the output depends only on the seed.
"""

from __future__ import annotations

import random

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


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(NAMES),
        place=rng.choice(PLACES),
        noun=rng.choice(NOUNS),
        adj=rng.choice(ADJECTIVES),
        verb=rng.choice(VERBS),
    )


def dialogue(rng: random.Random) -> str:
    """A short line of dialogue for a speech balloon."""
    return _fill(rng.choice(_DIALOGUE), rng)


def narration(rng: random.Random) -> str:
    """A short narration line for a caption box."""
    return _fill(rng.choice(_NARRATION), rng)


def sound_effect(rng: random.Random) -> str:
    return rng.choice(SOUND_EFFECTS)


def prose_paragraph(rng: random.Random, sentences: int = 4) -> str:
    """A paragraph of fiction prose for text-story pages."""
    return " ".join(_fill(rng.choice(_PROSE), rng) for _ in range(sentences))


def computing_paragraph(rng: random.Random, sentences: int = 2) -> str:
    """A paragraph from an imaginary programming textbook (non-comic pollution)."""
    picks = rng.sample(COMPUTING_PROSE, sentences)
    return " ".join(picks)


def story_title(rng: random.Random) -> str:
    return rng.choice(
        [
            f"The {rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}",
            f"Return to {rng.choice(PLACES)[4:].title()}",
            f"Night of the {rng.choice(NOUNS).title()}",
            f"{rng.choice(NAMES)} and the {rng.choice(NOUNS).title()}",
        ]
    )
