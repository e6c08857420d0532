"""The caches on a real PostgreSQL, as every worker of the stack shares them: a page answered
in one process is never paid for in another, tables are created safely by processes starting
together, and a process keeps a bounded pool however many caches it opens."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from comix_resources.benchmarks.fake_vlm import FakeVlmEndpoint
from comix_resources.cache_store import POOL_OVERFLOW, POOL_SIZE
from comix_resources.encoders import FeatureCache
from comix_resources.fingerprints import FingerprintCache
from comix_resources.text import TextCache
from tests.stack.conftest import PostgresServer

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]

# A worker: the OpenAI engine through a cascade whose cache is the shared database.
WORKER = """
import sys
from comix_resources.text import OpenAIEngine, TextCache, TextCascade
from tests.text.conftest import page

base_url, cache_url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
pages = [page(f"p{i}", (i, 2 * i, 255 - i)) for i in range(count)]
engine = OpenAIEngine(base_url, "fake-vlm", api_key="sk-test", timeout_s=10)
with TextCache(cache_url) as cache:
    results = TextCascade([engine], cache, max_concurrency=2).extract_pages(pages)
print(sum(r.cached for r in results), sum(r.status == "ok" for r in results))
"""


def _worker(base_url: str, cache_url: str, pages: int) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, base_url, cache_url, str(pages)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cached, ok = done.stdout.split()
    return int(cached), int(ok)


def test_a_page_paid_on_one_worker_is_free_on_another(
    postgres: PostgresServer, fake_vlm: FakeVlmEndpoint
) -> None:
    url = postgres.new_database()
    assert _worker(fake_vlm.base_url, url, 6) == (0, 6)
    assert fake_vlm.answers == 6
    # Another process, with a bigger batch: only the new pages reach the endpoint.
    assert _worker(fake_vlm.base_url, url, 9) == (6, 9)
    assert fake_vlm.answers == 9 and fake_vlm.paid_twice() == []
    with TextCache(url) as cache:
        assert len(cache) == 9


def test_processes_starting_together_create_the_tables_once(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    script = (
        "import sys; from comix_resources.encoders import FeatureCache; "
        "from comix_resources.fingerprints import FingerprintCache; from comix_resources.text "
        "import TextCache; FeatureCache(sys.argv[1], 'closure_lite_features'); "
        "FingerprintCache(sys.argv[1]); TextCache(sys.argv[1])"
    )
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", script, url], cwd=PROJECT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=300)[1] for p in starting]
    assert [p.returncode for p in starting] == [0] * 6, "\n".join(errors)[-3000:]


def test_features_and_fingerprints_on_postgres(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database()
    vectors = {f"k{i}": np.full(4, i, np.float32) for i in range(1200)}
    closure = FeatureCache(url, "closure_lite_features")
    closure.put_many("enc", vectors)
    closure.put_many("enc", {"k0": np.full(4, -1.0)})  # replaced
    found = closure.get_many("enc", [*vectors, "nope"])
    assert len(found) == 1200 and found["k0"].tolist() == [-1] * 4
    assert found["k1199"].tolist() == [1199] * 4
    # Each cache is its own table: the page-stream model's features never mix with these.
    assert FeatureCache(url, "page_stream_features").get_many("enc", ["k1"]) == {}

    book = tmp_path / "b.cbz"
    book.write_bytes(b"bytes")
    fingerprints = FingerprintCache(url)
    digest = fingerprints.sha256(book, 5, 1)
    assert FingerprintCache(url).cached_sha256(book, 5, 1) == digest
    assert FingerprintCache(url).page_count(book, 5, 1, lambda: 7) == 7
    assert FingerprintCache(url).page_count(book, 5, 1, lambda: 99) == 7


def test_a_process_keeps_one_bounded_pool(postgres: PostgresServer) -> None:
    import psycopg2

    url = postgres.new_database()
    database = url.rsplit("/", 1)[1]
    caches = [TextCache(url) for _ in range(40)]

    def read(cache: TextCache) -> None:
        for _ in range(20):
            cache.get("s", "e", "m", "v")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(read, caches))
    probe = psycopg2.connect(
        host="127.0.0.1",
        port=postgres.port,
        user="comix",
        password=postgres.password,
        dbname="postgres",
    )
    with probe.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,))
        (connections,) = cursor.fetchone()
    probe.close()
    assert 1 <= connections <= POOL_SIZE + POOL_OVERFLOW
