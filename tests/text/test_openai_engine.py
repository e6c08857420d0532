"""The openai engine against a local server that misbehaves on purpose, through the cascade."""

from __future__ import annotations

import pytest

from comix_resources.text import (
    OpenAIEngine,
    PageTextResult,
    TextCache,
    TextCascade,
    cascade_counts,
)
from tests.text.conftest import FakeVlmServer, StubEngine, page

KEY_ENV = "COMIX_TEST_VLM_KEY"
KEY = "sk-test-0123456789abcdef"
PRICE_IN, PRICE_OUT = 3.0, 15.0  # USD per million tokens
ONE_CALL_USD = (1000 * PRICE_IN + 200 * PRICE_OUT) / 1e6


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def engine(base_url: str, **overrides: object) -> OpenAIEngine:
    options: dict = {
        "api_key_env": KEY_ENV,
        "timeout_s": 0.5,
        "max_retries": 2,
        "base_delay_s": 0.001,
        "price_in_per_mtok": PRICE_IN,
        "price_out_per_mtok": PRICE_OUT,
    }
    options.update(overrides)
    return OpenAIEngine(base_url, "test/vlm-1", **options)


def run(
    server_url: str,
    behaviours: list[str],
    server: FakeVlmServer | None,
    cache: TextCache | None = None,
) -> PageTextResult:
    p = page("p1", (10, 20, 30))
    if server is not None:
        server.script(p.image, *behaviours)  # type: ignore[arg-type]
    cascade = TextCascade([engine(server_url), StubEngine()], cache, max_concurrency=1)
    return cascade.extract_pages([p])[0]


def test_ok_answer_becomes_items_with_cost_and_key(vlm_server: FakeVlmServer) -> None:
    result = run(vlm_server.base_url, ["ok"], vlm_server)
    assert (result.status, result.engine, result.model) == ("ok", "openai", "test/vlm-1")
    assert result.attempts == 1 and result.error_kinds == ()
    assert [(i.kind, i.text) for i in result.items] == [
        ("narration", "Meanwhile..."),
        ("dialogue", "Where is the key?"),
        ("sfx", "BOOM!"),
    ]
    # box_2d [ymin, xmin, ymax, xmax] in 0-1000 of a 40x60 page -> [x, y, w, h] pixels
    assert result.items[1].bbox == (20, 6, 16, 6)
    assert result.items[1].speaker == "Ann" and result.items[1].panel_number == 1
    assert result.vlm is not None and result.vlm["characters"] == ["Ann", "Bob"]
    assert (result.prompt_tokens, result.completion_tokens) == (1000, 200)
    assert result.cost_usd == pytest.approx(ONE_CALL_USD)
    request = vlm_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("behaviours", "kinds"),
    [
        (["500", "500", "500"], ("openai:http_error",) * 3),
        (["truncated"], ("openai:json_error",)),
        (["wrong_schema"], ("openai:schema_error",)),
        (["slow"], ("openai:timeout",)),
        (["empty"], ("openai:empty",)),
    ],
    ids=["500", "truncated", "wrong_schema", "slow", "empty"],
)
def test_misbehaviour_falls_through(
    vlm_server: FakeVlmServer, behaviours: list[str], kinds: tuple[str, ...]
) -> None:
    result = run(vlm_server.base_url, behaviours, vlm_server)
    assert (result.status, result.engine) == ("ok", "stub")
    assert result.error_kinds == kinds
    assert result.attempts == len(kinds) + 1  # the openai calls, then the stub
    assert vlm_server.calls() == len(kinds)
    assert KEY not in repr(result)  # the 500 body echoes the key; it is scrubbed


def test_bad_answers_are_still_billed(vlm_server: FakeVlmServer) -> None:
    result = run(vlm_server.base_url, ["wrong_schema"], vlm_server)
    assert result.cost_usd == pytest.approx(ONE_CALL_USD)
    assert result.trail[0].outcome == "schema_error" and result.trail[0].cost_usd > 0


def test_429_then_success_is_retried_on_openai(vlm_server: FakeVlmServer) -> None:
    result = run(vlm_server.base_url, ["429", "ok"], vlm_server)
    assert (result.status, result.engine, result.attempts) == ("ok", "openai", 2)
    assert result.error_kinds == ("openai:http_error",)
    assert result.trail[0].http_status == 429
    counts = cascade_counts([result])["openai"]
    assert (counts["ok"], counts["http_error"], counts["calls"]) == (1, 0, 2)


def test_connection_refused_is_retried_then_falls_through(closed_port: int) -> None:
    result = run(f"http://127.0.0.1:{closed_port}/v1", [], None)
    assert (result.engine, result.error_kinds) == ("stub", ("openai:connection_error",) * 3)


def test_missing_key_is_a_config_error(
    vlm_server: FakeVlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    result = run(vlm_server.base_url, [], vlm_server)
    assert (result.engine, result.error_kinds) == ("stub", ("openai:config_error",))
    assert KEY_ENV in result.trail[0].detail  # type: ignore[operator]
    assert vlm_server.calls() == 0


def test_every_engine_failing_gives_a_failed_row(vlm_server: FakeVlmServer) -> None:
    p = page("p1", (1, 2, 3))
    vlm_server.script(p.image, "empty")  # type: ignore[arg-type]
    result = TextCascade([engine(vlm_server.base_url)]).extract_pages([p])[0]
    assert (result.status, result.engine, result.items) == ("failed", None, ())
    assert result.error_kinds == ("openai:empty",) and result.error


def test_cache_prevents_a_second_call_and_retries_failures(
    vlm_server: FakeVlmServer, tmp_path
) -> None:
    good, bad = page("good", (200, 0, 0)), page("bad", (0, 200, 0))
    vlm_server.script(bad.image, "500", "500", "500")  # type: ignore[arg-type]
    with TextCache(tmp_path / "cache" / "page_text.sqlite") as cache:
        cascade = TextCascade([engine(vlm_server.base_url), StubEngine()], cache)
        first = cascade.extract_pages([good, bad])
        assert [r.engine for r in first] == ["openai", "stub"]
        assert vlm_server.calls() == 4

        second = cascade.extract_pages([good, bad])
    # the good page is served from the cache: no call, nothing paid
    assert (second[0].engine, second[0].cached, second[0].attempts) == ("openai", True, 0)
    assert second[0].cost_usd == 0 and second[0].items == first[0].items
    # the page openai failed is asked again (and now answers); the stub's answer was cached
    assert second[1].engine == "openai" and not second[1].cached
    assert vlm_server.calls() == 5
    assert [r["behaviour"] for r in vlm_server.requests][-1] == "ok"


def test_repr_hides_the_key() -> None:
    eng = OpenAIEngine("http://localhost/v1", "m", api_key="sk-secret-value-123")
    assert "sk-secret" not in repr(eng)
