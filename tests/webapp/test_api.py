"""The JSON API over a small bundle: every query kind, filters, images by id, and errors."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.webapp.conftest import BOXES, PAGE_H, PAGE_W, Corpus


def search(client: TestClient, **params: object) -> dict:
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_info_and_facets_describe_the_bundle(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert (info["pages"], info["panels"], info["has_map"]) == (60, 240, True)
    assert info["model"]["url"] == "http://mlflow.test:5000/#/models/closure-lite/versions/3"
    assert info["model"]["run_url"] == "http://mlflow.test:5000/#/experiments/1/runs/abc123"
    facets = client.get("/api/facets").json()
    assert {f["value"]: f["count"] for f in facets["source"]} == {"amazon": 30, "calibre": 30}
    assert {f["value"]: f["count"] for f in facets["page_type"]} == {
        "cover": 12,
        "story": 36,
        "unknown": 12,
    }
    assert [c["value"] for c in facets["cluster"]] == [0, 1, 2]
    books = client.get("/api/books", params={"collection": "amazon-coll-1"}).json()["books"]
    assert [b["pages"] for b in books] == [5, 5, 5]


def test_more_like_this_finds_the_same_book_and_skips_itself(
    client: TestClient, corpus: Corpus
) -> None:
    page = corpus.page_ids[12]
    data = search(client, page_id=page, k=4)
    ids = [r["page_id"] for r in data["results"]]
    assert page not in ids and len(ids) == 4
    book = page.split("-")[0]
    assert all(i.startswith(book) for i in ids)  # the other 4 pages of its book come first
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    with_self = search(client, page_id=page, k=1, include_self=True)["results"][0]
    assert with_self["page_id"] == page and with_self["score"] == pytest.approx(1.0, abs=1e-4)


def test_result_carries_panels_links_and_image_urls(client: TestClient, corpus: Corpus) -> None:
    result = search(client, page_id=corpus.page_ids[0], k=1)["results"][0]
    assert [p["order"] for p in result["panels"]] == [0, 1, 2, 3]
    assert result["panels"][0]["box"] == list(map(float, BOXES[0]))
    assert result["panels"][1]["panel_id"] == f"{result['page_id']}:1"
    assert (result["width"], result["height"]) == (PAGE_W, PAGE_H)
    source, collection = result["source"], result["collection"]
    assert result["links"]["dagster_pages"] == (
        f"http://dagster.test:3000/assets/{source}/pages?partition={collection}"
    )
    assert result["links"]["mlflow_model"].endswith("/#/models/closure-lite/versions/3")
    thumb = client.get(result["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (PAGE_W, PAGE_H)  # already small


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"source": "calibre"}, lambda r: r["source"] == "calibre"),
        ({"collection": "amazon-coll-1"}, lambda r: r["collection"] == "amazon-coll-1"),
        ({"page_type": "unknown"}, lambda r: r["page_type"] is None),
        ({"page_type": ["cover", "story"]}, lambda r: r["page_type"] in ("cover", "story")),
        ({"is_comic": "false"}, lambda r: r["is_comic"] is False),
        ({"cluster": 2}, lambda r: r["cluster"] == 2),
    ],
)
def test_filters_restrict_every_result(
    client: TestClient, corpus: Corpus, params: dict, check: object
) -> None:
    data = search(client, page_id=corpus.page_ids[0], k=50, **params)
    assert data["results"] and all(check(r) for r in data["results"])  # type: ignore[operator]
    unfiltered = search(client, page_id=corpus.page_ids[0], k=50)
    assert data["candidates"] < unfiltered["candidates"]


def test_book_filter_and_unknown_values(client: TestClient, corpus: Corpus) -> None:
    book = corpus.catalog["book_id"][40]
    data = search(client, page_id=corpus.page_ids[0], k=20, book_id=book)
    assert sorted(r["page_id"] for r in data["results"]) == [f"{book}-{i:04d}" for i in range(5)]
    assert search(client, page_id=corpus.page_ids[0], source="nowhere")["results"] == []


def test_panel_mode_returns_panels_and_skips_the_query_panel(
    client: TestClient, corpus: Corpus
) -> None:
    panel = corpus.panel_ids[21]
    data = search(client, panel_id=panel, mode="panel", k=5)
    assert data["mode"] == "panel" and len(data["results"]) == 5
    found = [r["panel_id"] for r in data["results"]]
    assert panel not in found
    assert all(r["panel_id"] == f"{r['page_id']}:{r['slot']}" for r in data["results"])
    # A page asked for panels: none of its own panels come back.
    page = corpus.page_ids[3]
    own = search(client, page_id=page, mode="panel", k=10)
    assert all(r["page_id"] != page for r in own["results"])


def test_keyword_search_needs_every_term(client: TestClient) -> None:
    data = search(client, keyword="dragon page", k=100)
    assert data["query"]["kind"] == "keyword" and data["results"]
    assert all("dragon" in r["text"] for r in data["results"])
    # A quoted phrase is one term: only page 7's text holds "page 7" (pages go up to 59).
    phrase = search(client, keyword='"page 7"', k=100)
    assert [r["page_index"] + 0 for r in phrase["results"]] == [2]  # book 1's third page
    assert "page 7" in phrase["results"][0]["text"]
    panels = search(client, keyword="robot", mode="panel", k=100)
    for r in panels["results"]:
        hit = next(p for p in r["panels"] if p["slot"] == r["slot"])
        assert "robot" in hit["text"]
    # Each page names three consecutive WORDS: "dragon" and "ocean" never meet.
    assert search(client, keyword="dragon ocean")["results"] == []
    assert search(client, keyword="dragon castle")["results"]
    filtered = search(client, keyword="robot", source="amazon", k=100)
    assert filtered["results"] and all(r["source"] == "amazon" for r in filtered["results"])


def test_text_query_runs_the_model(client: TestClient, query_encoder) -> None:
    data = search(client, text="a robot flies over the ocean", k=7)
    assert data["query"] == {"kind": "text", "value": "a robot flies over the ocean"}
    assert len(data["results"]) == 7
    vector = query_encoder.encode_text("a robot flies over the ocean", "page")
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    panels = search(client, text="a robot", mode="panel", k=3)
    assert len(panels["results"]) == 3 and "slot" in panels["results"][0]


def test_image_upload_detects_panels_and_searches(client: TestClient, corpus: Corpus) -> None:
    data = corpus.sample_image.read_bytes()
    response = client.post(
        "/api/search/image",
        files={"file": ("page.png", data, "image/png")},
        data={"mode": "page", "k": "5", "source": "amazon"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"]["kind"] == "image" and (
        body["query"]["width"],
        body["query"]["height"],
    ) == (
        PAGE_W,
        PAGE_H,
    )
    assert len(body["query"]["panels"]) == 4  # the contour detector finds the four frames
    assert len(body["results"]) == 5 and all(r["source"] == "amazon" for r in body["results"])
    crop = io.BytesIO()
    Image.open(corpus.sample_image).crop((15, 15, 140, 215)).save(crop, "PNG")
    panel = client.post(
        "/api/search/image",
        files={"file": ("panel.png", crop.getvalue(), "image/png")},
        data={"mode": "panel", "k": "3"},
    ).json()
    assert panel["query"]["panels"] == [[0, 0, 125, 200]] and len(panel["results"]) == 3


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({}, 422, "exactly one of"),
        ({"text": "a", "page_id": "b"}, 422, "got text, page_id"),
        ({"page_id": "x", "k": 0}, 422, "k:"),
        ({"page_id": "x", "k": 1000}, 422, "k:"),
        ({"page_id": "x", "mode": "book"}, 422, "mode must be"),
        ({"page_id": "nope"}, 404, "unknown page id"),
        ({"panel_id": "no-slot"}, 422, "<page_id>:<slot>"),
        ({"keyword": '""'}, 422, "no terms"),
        ({"page_id": "x", "cluster": "abc"}, 422, "cluster"),
    ],
)
def test_bad_queries_get_clear_json_errors(
    client: TestClient, params: dict, status: int, needle: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == status
    assert needle in response.json()["error"]


def test_bad_uploads_are_refused(client: TestClient) -> None:
    def post(data: bytes, name: str = "x.png") -> tuple[int, str]:
        response = client.post("/api/search/image", files={"file": (name, data, "image/png")})
        return response.status_code, response.json()["error"]

    assert post(b"not an image at all")[0] == 400
    assert post(b"")[0] in (400, 422)
    huge = io.BytesIO()
    Image.new("L", (2000, 1500)).save(huge, "PNG")  # 3 MP > the 2 MP limit, small file
    status, message = post(huge.getvalue())
    assert status == 413 and "pixels" in message
    status, message = post(np.random.default_rng(0).bytes(3 * 1024**2))
    assert status == 413 and "MB" in message


@pytest.mark.parametrize(
    "path",
    [
        "/api/pages/..%2F..%2Fetc%2Fpasswd/image",
        "/api/pages/%2E%2E/image",
        "/api/pages/amazon%2Famazon-coll-0%2Fpages/image",
        "/api/pages/../../../etc/passwd",
        "/static/../app.py",
        "/static/%2E%2E/app.py",
    ],
)
def test_images_only_by_known_id(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"import" not in response.content  # never the source of app.py


def test_large_image_is_downscaled_and_cached(client: TestClient, corpus: Corpus) -> None:
    page = corpus.page_ids[5]
    first = client.get(f"/api/pages/{page}/image", params={"size": "large"})
    assert first.headers["cache-control"].startswith("public")
    assert Image.open(io.BytesIO(first.content)).format == "JPEG"
    again = client.get(f"/api/pages/{page}/image", params={"size": "large"})
    assert again.content == first.content
    assert client.get(f"/api/pages/{page}/image", params={"size": "huge"}).status_code == 422


def test_internal_errors_reveal_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail /home/user/.comix")

    monkeypatch.setattr(engine, "search_keywords", broken)
    response = client.get("/api/search", params={"keyword": "robot"})
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json() == {"error": "internal error (see the server log)"}


def test_page_lookup_and_html(client: TestClient, corpus: Corpus) -> None:
    prefix = corpus.page_ids[0][:6]
    ids = client.get("/api/pages", params={"prefix": prefix}).json()["page_ids"]
    assert ids and all(i.startswith(prefix) for i in ids)
    assert client.get("/api/pages/random").json()["page_id"] in corpus.page_ids
    record = client.get(f"/api/pages/{corpus.page_ids[9]}").json()
    assert record["page_id"] == corpus.page_ids[9] and record["score"] is None
    html = client.get("/")
    assert html.status_code == 200 and "closure-lite v3" in html.text
    assert "/#/models/closure-lite/versions/3" in html.text
    assert client.get("/openapi.json").json()["paths"]["/api/search"]["get"]


def test_an_internal_error_does_not_escape_the_app(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exception that leaves the ASGI app makes uvicorn drop the connection, so the
    # client's next keep-alive request fails too; raise_server_exceptions shows whether it does.
    engine = client.app.state.engine  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "search_keywords", lambda *a, **k: 1 / 0)
    with TestClient(client.app, raise_server_exceptions=True) as strict:
        response = strict.get("/api/search", params={"keyword": "robot"})
        assert response.status_code == 500
        assert strict.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "cluster", ["999999999999999999999999", str(2**31), str(-(2**31) - 1), "1e3"]
)
def test_numbers_out_of_range_are_422(client: TestClient, corpus: Corpus, cluster: str) -> None:
    response = client.get("/api/search", params={"page_id": corpus.page_ids[0], "cluster": cluster})
    assert response.status_code == 422, response.text
    assert "cluster" in response.json()["error"]
    upload = client.post(
        "/api/search/image",
        files={"file": ("p.png", corpus.sample_image.read_bytes(), "image/png")},
        data={"cluster": cluster},
    )
    assert upload.status_code == 422 and "cluster" in upload.json()["error"]


@pytest.mark.parametrize("path", ["/", "/api/info", "/api/pages/nope", "/docs", "/static/app.js"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_unknown_host_is_refused(client: TestClient) -> None:
    # DNS rebinding: a page on evil.example resolves its own name to 127.0.0.1.
    response = client.get("/api/info", headers={"host": "evil.example:8765"})
    assert response.status_code == 400
    assert response.headers["x-frame-options"] == "DENY"
    assert client.get("/api/info", headers={"host": "testserver:8765"}).status_code == 200


def test_docs_use_local_assets_only(client: TestClient) -> None:
    html = client.get("/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html  # no inline script: the CSP needs none
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_default_allowed_hosts_follow_the_bound_address() -> None:
    from comix_resources.webapp.serve import default_allowed_hosts

    assert default_allowed_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "::1")
    assert default_allowed_hosts("192.168.1.20") == ("192.168.1.20",)
    assert default_allowed_hosts("0.0.0.0") == ("*",)
