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


def test_names_that_are_not_utf8_are_shown_safely_and_hashed_exactly() -> None:
    import os

    from comix_resources.ids import raw_bytes, safe_text, sha256_bytes, sha256_text, short_hash

    name = os.fsdecode(b"caf\xe9 \xff")  # what os.listdir gives for these bytes
    assert raw_bytes(name) == b"caf\xe9 \xff"
    assert safe_text(name) == "caf\\xe9 \\xff"
    safe_text(name).encode("utf-8")  # valid UTF-8: polars, SQLite and Dagster take it
    assert safe_text("進撃") == "進撃"
    assert sha256_text(name) == sha256_bytes(b"caf\xe9 \xff")
    assert sha256_text("plain") == sha256_bytes(b"plain")  # digests of UTF-8 names unchanged
    assert short_hash(name) != short_hash(safe_text(name))  # the escape is not the name


def test_names_without_ascii_get_their_own_stable_keys() -> None:
    keys = partition_keys(["進撃の巨人", "ワンピース"])
    again = partition_keys(["ワンピース", "龍珠", "進撃の巨人"])
    assert keys["進撃の巨人"] == again["進撃の巨人"] and keys["ワンピース"] == again["ワンピース"]
    assert len(set(again.values())) == 3 and all(SAFE.match(k) for k in again.values())
