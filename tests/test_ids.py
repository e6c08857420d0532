import re

from comix_resources.ids import book_id_from_sha256, page_id, partition_keys, slugify

SAFE = re.compile(r"^[a-z0-9_-]+$")


def test_slugify_is_ui_safe_for_awkward_names() -> None:
    for name in ["Humble Bundle: Golden Age Sci-Fi", "A, B | C [D]", "Ünïcödé ✨", "///", "  "]:
        assert SAFE.match(slugify(name)), name
    assert slugify("Humble Bundle: Golden Age Sci-Fi") == "humble-bundle-golden-age-sci-fi"


def test_partition_keys_resolve_collisions_stably() -> None:
    first = partition_keys(["Sci-Fi", "Sci Fi", "Horror"])
    second = partition_keys(["Horror", "Sci Fi", "Sci-Fi"])
    assert first == second
    assert first["Sci Fi"] == "sci-fi"
    assert first["Sci-Fi"].startswith("sci-fi-") and first["Sci-Fi"] != "sci-fi"
    assert len(set(first.values())) == 3


def test_page_id_pads_the_index() -> None:
    book_id = book_id_from_sha256("ab" * 32)
    assert page_id(book_id, 7) == f"{book_id}-0007"
    assert len(book_id) == 16
