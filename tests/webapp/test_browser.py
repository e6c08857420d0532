"""End to end in Debian's chromium: a real uvicorn server, an upload, more like this, a filter,
the panel overlay. Screenshots go to $COMIX_TEST_ARTIFACTS (or the test's tmp dir)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.webapp.conftest import Corpus

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_signals() -> None:
    # A child of a non-interactive shell inherits "ignore SIGINT"; restore the defaults so
    # the server stops on SIGTERM/SIGINT like it does in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="module")
def server(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    home = tmp_path_factory.mktemp("comix-home")
    log = (home / "server.log").open("wb")
    env = {**os.environ, "COMIX_HOME": str(home), "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comix_assets.cli",
            "serve",
            "--port",
            str(port),
            "--bundle",
            str(corpus.bundle),
            "--lake",
            str(corpus.lake),
            "--dagster-url",
            "http://dagster.test:3000",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"server did not start:\n{(home / 'server.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("COMIX_TEST_ARTIFACTS")
    folder = Path(root) / "webapp" if root else tmp_path_factory.mktemp("webapp-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_upload_more_like_this_filter_and_overlay(
    server: str, browser, corpus: Corpus, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    page.get_by_test_id("stats").wait_for()
    assert "60 pages" in page.get_by_test_id("stats").inner_text()

    # Upload a page image: the model embeds it (first query loads the encoders).
    page.get_by_test_id("tab-image").click()
    page.get_by_test_id("file-input").set_input_files(str(corpus.sample_image))
    results = page.get_by_test_id("result")
    results.first.wait_for(timeout=90_000)
    assert results.count() == 20
    status = page.get_by_test_id("status").inner_text()
    assert "for image" in status and "pages" in status
    # The upload is shown with the panels the detector found.
    assert page.locator("#query-preview rect").count() == 4
    page.screenshot(path=str(artifacts / "01-upload.png"), full_page=True)

    # Panels are drawn over every thumbnail with their reading-order numbers.
    first = results.first
    assert first.locator("svg rect").count() == 4
    assert first.locator("svg text").all_text_contents() == ["1", "2", "3", "4"]
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

    # More like this on the first result: its book-mates come back, without it.
    target = first.get_attribute("data-page-id")
    assert target
    first.get_by_test_id("more-like-this").click()
    page.wait_for_function(
        "id => document.querySelector('[data-testid=status]').textContent.includes(id)", arg=target
    )
    ids = [r.get_attribute("data-page-id") for r in results.all()]
    assert target not in ids
    assert all(i.startswith(target.split("-")[0]) for i in ids[:4])
    page.screenshot(path=str(artifacts / "02-more-like-this.png"), full_page=True)

    # A filter re-runs the query and every card obeys it.
    page.select_option("#f-source", "calibre")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=result] .where')]"
        ".every(e => e.textContent.startsWith('calibre'))"
    )
    assert results.count() > 0
    page.screenshot(path=str(artifacts / "03-filter-calibre.png"), full_page=True)

    # Details: the large image with its overlay, panel text and the Dagster/MLflow links.
    results.first.locator("[data-testid=page-figure]").click()
    details = page.get_by_test_id("details")
    details.wait_for()
    assert details.locator("svg rect").count() == 4
    href = details.get_by_test_id("dagster-link").get_attribute("href")
    assert href and href.startswith("http://dagster.test:3000/assets/calibre/pages?partition=")
    mlflow = details.get_by_test_id("mlflow-link").get_attribute("href")
    assert mlflow and mlflow.endswith("/#/models/closure-lite/versions/3")
    assert "the " in details.locator("ol").inner_text()
    page.screenshot(path=str(artifacts / "04-details.png"), full_page=False)
    page.keyboard.press("Escape")

    # Panel mode with a keyword query: the matching panel is highlighted.
    page.get_by_test_id("tab-text").click()
    page.fill("#q-text", "robot")
    # The radios are styled as segmented buttons: a user clicks their labels.
    page.locator('label:has(input[name="textkind"][value="keyword"])').click()
    page.locator("label:has([data-testid=mode-panel])").click()
    page.click("#go")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=status]').textContent.includes('words')"
    )
    assert results.count() > 0
    assert results.first.locator("rect.hit").count() == 1
    assert "robot" in results.first.locator(".snippet").inner_text()
    page.screenshot(path=str(artifacts / "05-panel-keyword.png"), full_page=True)
    assert errors == []


def test_bad_query_shows_an_error_not_a_trace(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(f"{server}/?page_id=does-not-exist")
    status = page.get_by_test_id("status")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=status]').classList.contains('error')"
    )
    assert "unknown page id" in status.inner_text()
    assert "Traceback" not in page.content()


def test_docs_render_offline_under_the_csp(server: str, browser, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: console.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith(server) else foreign.append(r.url))
    for path in ("/docs", "/"):
        page.goto(f"{server}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{server}/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 5
    page.screenshot(path=str(artifacts / "06-api-docs.png"))
    assert console == [], console  # a CSP violation is a console error
    assert foreign == [], foreign


def test_a_bad_number_keeps_the_connection_usable(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as api:
        bad = api.get("/api/search", params={"page_id": "x", "cluster": "9" * 24})
        assert bad.status_code == 422 and "cluster" in bad.json()["error"]
        assert api.get("/api/info").status_code == 200  # same keep-alive connection
        refused = api.get("/api/info", headers={"host": "rebound.example"})
        assert refused.status_code == 400
