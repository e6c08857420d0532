"""The cache tables on SQLite: reads, upserts, chunked lookups, and files older code wrote.

The same classes on a shared PostgreSQL database are tested in tests/stack/test_shared_caches.py.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from comix_resources.cache_store import CacheTable, cache_location, is_database_url
from comix_resources.encoders import FeatureCache
from comix_resources.fingerprints import FingerprintCache
from comix_resources.text import EngineAnswer, TextCache, TextItem


def _table(location) -> CacheTable:
    return CacheTable(
        location, "things", {"kind": sa.String(), "key": sa.String()}, {"n": sa.Integer()}
    )


def test_location_is_the_url_when_one_is_configured(tmp_path: Path) -> None:
    assert cache_location("", tmp_path, "x.sqlite") == str(tmp_path / "x.sqlite")
    url = "postgresql+psycopg2://comix:pw@127.0.0.1:5432/cache"
    assert cache_location(url, tmp_path, "x.sqlite") == url
    assert is_database_url(url) and not is_database_url(tmp_path / "x.sqlite")
    assert not is_database_url(None)


def test_upsert_replaces_and_get_many_spans_chunks(tmp_path: Path) -> None:
    table = _table(tmp_path / "deep" / "things.sqlite")
    table.put(kind="a", key="k", n=1)
    table.put(kind="a", key="k", n=2)  # same key: replaced, not duplicated
    assert table.get(kind="a", key="k") == {"n": 2} and table.count() == 1
    assert table.get(kind="b", key="k") is None
    keys = [f"k{i}" for i in range(1234)]  # more than one IN chunk
    table.put_many({"kind": "a", "key": k, "n": i} for i, k in enumerate(keys))
    found = table.get_many({"kind": "a"}, "key", [*keys, "missing", "k3"])
    assert len(found) == 1234 and found["k1233"] == {"n": 1233} and "missing" not in found
    assert table.get_many({"kind": "b"}, "key", keys) == {}
    table.close()
    reopened = _table(tmp_path / "deep" / "things.sqlite")
    assert reopened.count() == 1 + 1234  # a new connection sees what was committed
    reopened.close()


def test_memory_tables_are_private_and_thread_safe() -> None:
    first, second = _table(None), _table(None)
    first.put(kind="a", key="k", n=1)
    assert second.get(kind="a", key="k") is None

    def write(offset: int) -> None:
        for i in range(50):
            first.put(kind="t", key=f"{offset}-{i}", n=i)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.count() == 1 + 4 * 50


def test_text_cache_reads_a_file_the_sqlite3_version_wrote(tmp_path: Path) -> None:
    """A user's page_text.sqlite from before (paid-for answers) stays readable."""
    path = tmp_path / "page_text.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE page_text (sha256 TEXT NOT NULL, engine TEXT NOT NULL, model TEXT NOT "
        "NULL, prompt_version TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (sha256, engine,"
        " model, prompt_version))"
    )
    answer = '{"completion_tokens": 2, "cost_usd": 0.5, "items": [], "prompt_tokens": 1, "vlm": ""}'
    old.execute("INSERT INTO page_text VALUES ('s', 'openai', 'm', 'v1', ?)", (answer,))
    old.commit()
    old.close()
    with TextCache(path) as cache:
        hit = cache.get("s", "openai", "m", "v1")
        assert hit is not None and hit.cost_usd == 0.5 and hit.prompt_tokens == 1
        new = EngineAnswer((TextItem("Hi", "dialogue", (1, 2, 3, 4)),), vlm="{}")
        cache.put("t", "openai", "m", "v1", new)
        cache.put("t", "openai", "m", "v1", new)
        assert len(cache) == 2
        assert cache.get("t", "openai", "m", "v1") == new
        assert cache.get("t", "openai", "m", "v2") is None


def test_feature_cache_reads_old_files_and_keeps_encoders_apart(tmp_path: Path) -> None:
    path = tmp_path / "features.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE features (encoder TEXT, key TEXT, vector BLOB, PRIMARY KEY (encoder, key))"
    )
    old.execute("INSERT INTO features VALUES ('enc', 'a', ?)", (np.ones(3, np.float32).tobytes(),))
    old.commit()
    old.close()
    cache = FeatureCache(path, "closure_lite_features")  # the name is a table in a database
    cache.put_many("enc", {"b": np.array([1, 2, 3], np.float64)})
    cache.put_many("other", {"a": np.zeros(3)})
    found = cache.get_many("enc", ["a", "b", "c"])
    assert sorted(found) == ["a", "b"]
    assert found["b"].dtype == np.float32 and found["b"].tolist() == [1, 2, 3]
    assert cache.get_many("other", ["a"])["a"].tolist() == [0, 0, 0]
    cache.close()


def test_fingerprints_hash_once_per_size_and_mtime(tmp_path: Path) -> None:
    book = tmp_path / "book.cbz"
    book.write_bytes(b"one")
    cache = FingerprintCache(tmp_path / "cache" / "fingerprints.sqlite")
    first = cache.sha256(book, 3, 10)
    book.write_bytes(b"two")  # same size and (claimed) mtime: the cached digest stands
    assert cache.sha256(book, 3, 10) == first
    assert cache.cached_sha256(book, 3, 11) is None
    assert cache.sha256(book, 3, 11) != first
    counted: list[int] = []

    def count() -> int:
        counted.append(1)
        return 24

    assert cache.page_count(book, 3, 11, count) == 24
    assert cache.page_count(book, 3, 11, count) == 24 and len(counted) == 1
    assert cache.page_count(book, 4, 11, lambda: 30) == 30
    cache.close()
