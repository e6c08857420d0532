"""The cascade with scripted engines: fall-through, retries, backoff, cache, counts, cost."""

from __future__ import annotations

import random
import threading
import time

import pytest

from comix_resources.text import (
    EngineAnswer,
    EngineConnectionError,
    EngineHTTPError,
    EngineJSONError,
    EngineTimeout,
    PageInput,
    TextCache,
    TextCascade,
    TextItem,
    backoff_delay,
    cascade_counts,
    cascade_summary,
    result_row,
    token_cost,
)
from tests.text.conftest import StubEngine, page


class RetryingStub(StubEngine):
    max_retries = 3
    base_delay_s = 0.5


def test_first_engine_that_answers_wins() -> None:
    first = StubEngine("first", [EngineTimeout("slow")])
    second = StubEngine("second")
    result = TextCascade([first, second]).extract_pages([page("p", (1, 1, 1))])[0]
    assert (result.status, result.engine, result.model) == ("ok", "second", "second-model")
    assert result.error_kinds == ("first:timeout",) and result.attempts == 2
    assert result.items[0].bbox == (0, 0, 40, 60)  # size read from the image


def test_retries_with_backoff_only_for_429_and_5xx() -> None:
    sleeps: list[float] = []
    engine = RetryingStub(
        "vlm",
        [EngineHTTPError("busy", 429), EngineHTTPError("oops", 503), EngineHTTPError("no", 401)],
    )
    cascade = TextCascade([engine, StubEngine()], sleep=sleeps.append, seed=1)
    result = cascade.extract_pages([page("p", (1, 1, 1))])[0]
    # 429 and 503 retried, 401 is final: 3 calls of vlm, then the fallback
    assert engine.calls == 3 and result.engine == "stub"
    assert [a.http_status for a in result.trail[:3]] == [429, 503, 401]
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # base 0.5, doubling, jitter


def test_a_dropped_connection_is_retried_a_timeout_is_not() -> None:
    """A reset connection (an endpoint's accept queue full under load) heals on the next try;
    a timed-out request may still be billed, so it moves on instead of asking again."""
    sleeps: list[float] = []
    dropped = RetryingStub("vlm", [EngineConnectionError("reset by peer")])
    cascade = TextCascade([dropped, StubEngine()], sleep=sleeps.append, seed=1)
    result = cascade.extract_pages([page("p", (1, 1, 1))])[0]
    assert (result.status, result.engine, dropped.calls) == ("ok", "vlm", 2)
    assert result.error_kinds == ("vlm:connection_error",) and len(sleeps) == 1
    slow = RetryingStub("vlm", [EngineTimeout("no answer")])
    result = TextCascade([slow, StubEngine()], sleep=sleeps.append).extract_pages(
        [page("p", (1, 1, 1))]
    )[0]
    assert (result.engine, slow.calls, len(sleeps)) == ("stub", 1, 1)


def test_retries_stop_at_max_retries() -> None:
    engine = RetryingStub("vlm", [EngineHTTPError("down", 500)] * 10)
    result = TextCascade([engine], sleep=lambda s: None).extract_pages([page("p", (1, 1, 1))])[0]
    assert engine.calls == 4 and result.status == "failed"
    assert cascade_counts([result])["vlm"]["http_error"] == 1


def test_backoff_delay() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(i, 1.0, 10.0, rng) for i in range(6)]
    for i, delay in enumerate(delays):
        cap = min(10.0, 2**i)
        assert cap / 2 <= delay <= cap
    # Retry-After wins when longer, within the cap
    assert backoff_delay(0, 0.01, 10.0, rng, retry_after_s=3.0) == 3.0
    assert backoff_delay(0, 0.01, 10.0, rng, retry_after_s=60.0) == 10.0


def test_token_cost() -> None:
    assert token_cost(1_000_000, 0, 2.5, 10.0) == pytest.approx(2.5)
    assert token_cost(12_000, 3_000, 0.15, 0.6) == pytest.approx(0.0018 + 0.0018)
    assert token_cost(500, 500, 0.0, 0.0) == 0.0


class Billed(StubEngine):
    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        self.calls += 1
        if self.errors:
            raise self.errors.popleft()
        return EngineAnswer((TextItem("hi", "dialogue", None),), {"x": 1}, 100, 50, 0.25)


def test_cost_adds_failed_attempts_and_summary() -> None:
    bad = EngineJSONError("cut", prompt_tokens=100, completion_tokens=40, cost_usd=0.125)
    engine = Billed("vlm", [bad])
    results = TextCascade([engine, Billed("vlm2")]).extract_pages(
        [page("a", (1, 1, 1)), page("b", (2, 2, 2))]
    )
    assert results[0].cost_usd == pytest.approx(0.375) and results[0].prompt_tokens == 200
    assert results[1].cost_usd == pytest.approx(0.25)
    summary = cascade_summary(results)
    assert summary["cost_usd"] == pytest.approx(0.625)
    assert (summary["pages"], summary["ok"], summary["failed"]) == (2, 2, 0)
    assert summary["engines"]["vlm"]["json_error"] == 1 and summary["engines"]["vlm"]["ok"] == 1
    assert summary["engines"]["vlm2"]["ok"] == 1
    row = result_row(results[0])
    assert row["error_kinds"] == ["vlm:json_error"] and row["vlm_json"] == '{"x": 1}'


def test_cache_serves_successes_and_not_failures(tmp_path) -> None:
    path = tmp_path / "page_text.sqlite"
    flaky = StubEngine("vlm", [EngineTimeout("slow")])
    fallback = StubEngine("ocr")
    pages = [page("a", (1, 1, 1)), page("b", (2, 2, 2))]
    with TextCache(path) as cache:
        first = TextCascade([flaky, fallback], cache, max_concurrency=1).extract_pages(pages)
        assert [r.engine for r in first] == ["ocr", "vlm"]
        assert len(cache) == 2
    with TextCache(path) as cache:  # a new run, a new connection
        second = TextCascade([flaky, fallback], cache, max_concurrency=1).extract_pages(pages)
    assert [(r.engine, r.cached, r.attempts) for r in second] == [
        ("vlm", False, 1),  # page a failed on vlm last time: asked again
        ("vlm", True, 0),  # page b: from the cache
    ]
    assert flaky.calls == 3 and fallback.calls == 1
    assert second[1].items == first[1].items


def test_a_cache_sent_to_a_worker_process_reads_the_same_answers(tmp_path) -> None:
    """The per-page stages pickle the cascade, cache included, into each worker process."""
    import pickle

    with TextCache(tmp_path / "page_text.sqlite") as cache:
        TextCascade([StubEngine("vlm")], cache).extract_pages([page("a", (1, 1, 1))])
        copy = pickle.loads(pickle.dumps(cache))
    with copy:
        assert len(copy) == 1
        assert copy.location == tmp_path / "page_text.sqlite"


def test_cache_key_includes_model_and_prompt_version(tmp_path) -> None:
    with TextCache(tmp_path / "c.sqlite") as cache:
        engine = StubEngine("vlm")
        p = page("a", (1, 1, 1))
        TextCascade([engine], cache).extract_pages([p])
        TextCascade([engine], cache, prompt_version="v2").extract_pages([p])
        engine.model = "other-model"
        TextCascade([engine], cache, prompt_version="v2").extract_pages([p])
        TextCascade([engine], cache, prompt_version="v2").extract_pages([p])
    assert engine.calls == 3


class Sleepy(StubEngine):
    def __init__(self) -> None:
        super().__init__("sleepy")
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        return EngineAnswer((TextItem(str(len(image_bytes)), "dialogue", None),))


def test_bounded_concurrency_keeps_order() -> None:
    engine = Sleepy()
    pages = [page(f"p{i}", (i, i, i)) for i in range(12)]
    results = TextCascade([engine], max_concurrency=3).extract_pages(pages)
    assert [r.page_id for r in results] == [p.page_id for p in pages]
    assert 1 < engine.peak <= 3


def test_unreadable_image_and_engine_bug_do_not_stop_the_run(tmp_path) -> None:
    class Buggy(StubEngine):
        def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
            raise ZeroDivisionError("bug")

    pages = [
        PageInput("junk", b"not an image"),
        PageInput("gone", tmp_path / "missing.png"),
        page("ok", (1, 1, 1)),
    ]
    results = TextCascade([Buggy("buggy"), StubEngine()]).extract_pages(pages)
    assert [r.status for r in results] == ["failed", "failed", "ok"]
    assert "unreadable image" in results[0].error  # type: ignore[operator]
    assert results[2].error_kinds == ("buggy:engine_error",)
    assert "ZeroDivisionError" in results[2].trail[0].detail  # type: ignore[operator]


def test_a_cascade_needs_engines() -> None:
    with pytest.raises(ValueError):
        TextCascade([])


def test_triage_spares_costly_engines_and_ocr_only_when_configured() -> None:
    from comix_resources.text.cascade import PreparedPage

    class Costly(StubEngine):
        costly = True

    class Local(StubEngine):
        costly = False

    vlm, ocr = Costly("openai"), Local("ocr")
    prose = PreparedPage(None, (), non_comic=True, reason="text_page: 40% text boxes")
    skipping = TextCascade([vlm, ocr])
    result = skipping.extract_page(page("p", (3, 3, 3)), prose)
    assert (result.status, result.engine, result.items) == ("ok", "triage", ())
    assert "skipped openai, ocr" in result.skipped and "40% text boxes" in result.skipped
    assert vlm.calls == ocr.calls == 0
    reading = TextCascade([vlm, ocr], skip_ocr_non_comic=False)
    result = reading.extract_page(page("p", (3, 3, 3)), prose)
    assert (result.engine, vlm.calls, ocr.calls, result.skipped) == ("ocr", 0, 1, None)
    comic = PreparedPage(None, (), non_comic=False, reason="comic features")
    assert skipping.extract_page(page("q", (4, 4, 4)), comic).engine == "openai"


def test_a_429_lowers_the_requests_in_flight_to_what_the_endpoint_took() -> None:
    from comix_resources.text.cascade import _InFlight

    slots = _InFlight(ceiling=4)
    for _ in range(4):
        slots.acquire()
    slots.release(rate_limited=True)  # refused with 4 in flight: the endpoint takes 3
    assert (slots.limit, slots.active) == (3, 3)
    blocked = threading.Thread(target=slots.acquire)
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # a fourth request waits for a slot, not for a timer
    slots.release(rate_limited=False)
    blocked.join(1)
    assert not blocked.is_alive() and slots.active == 3
    for _ in range(3):  # a run of answers as long as the limit gives a slot back
        slots.release(rate_limited=False)
    assert slots.limit == 4 and slots.active == 0
