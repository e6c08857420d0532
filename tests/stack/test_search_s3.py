"""The search page over a lake on a real S3 server: the bundle is copied once per publication
and checked file by file, a torn copy is never served, and page images come from the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from comix_resources.lake import Lake
from comix_resources.search.bundle import MANIFEST, SearchBundle, fetch_search_bundle
from comix_resources.search.bundle import write_search_bundle as publish
from tests.webapp.conftest import MANIFEST as LINEAGE
from tests.webapp.conftest import build_corpus, random_predictor

pytestmark = pytest.mark.slow


def _publish(corpus, index_url: str, version: str) -> None:
    publish(
        index_url,
        page_vectors=corpus.page_vectors,
        page_ids=corpus.page_ids,
        panel_vectors=corpus.panel_vectors,
        panel_ids=corpus.panel_ids,
        catalog=corpus.catalog,
        model_dir_or_predictor=random_predictor(),
        manifest={**LINEAGE, "model_version": version},
    )


def test_the_search_page_serves_an_s3_lake(s3_prefix: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from comix_resources.webapp.app import WebSettings, create_app
    from comix_resources.webapp.images import SIZES, downscale_jpeg

    corpus = build_corpus(tmp_path / "local")
    remote = Lake(s3_prefix)
    remote.fs.put(str(corpus.lake) + "/", remote.root, recursive=True)  # the page images
    index_url = f"{s3_prefix}/index"
    _publish(corpus, index_url, "3")
    cache = tmp_path / "cache" / "search-bundles"

    local = fetch_search_bundle(index_url, cache)
    assert local.parent == cache and (local / MANIFEST).is_file()
    assert SearchBundle.load(local).catalog.height == corpus.catalog.height
    stamp = (local / MANIFEST).stat().st_mtime_ns
    assert fetch_search_bundle(index_url, cache) == local  # the same publication: no copy
    assert (local / MANIFEST).stat().st_mtime_ns == stamp

    settings = WebSettings(cache_dir=tmp_path / "thumbs", allowed_hosts=("testserver",))
    app = create_app(local, s3_prefix, settings, query_encoder=object())
    page_id = corpus.page_ids[7]
    with TestClient(app, raise_server_exceptions=False) as client:
        params = {"page_id": page_id, "k": 3, "include_self": True}
        found = client.get("/api/search", params=params).json()
        assert found["results"][0]["page_id"] == page_id
        image = client.get(f"/api/pages/{page_id}/image")
        assert image.status_code == 200
        # The page's bytes came from the bucket: the same thumbnail as from the local copy.
        local_page = corpus.lake / corpus.catalog.row(7, named=True)["image_path"]
        assert image.content == downscale_jpeg(local_page.read_bytes(), SIZES["thumb"])

    # A new publication is a new copy; the old one goes.
    _publish(corpus, index_url, "4")
    newer = fetch_search_bundle(index_url, cache)
    assert newer != local and not local.exists()
    assert SearchBundle.load(newer).manifest["model_version"] == "4"

    # Files that do not match their manifest (a publication under way) are never served.
    remote.write_bytes(remote.path("index", "catalog.parquet"), b"half of a new catalog")
    (newer / MANIFEST).unlink()  # forget the good copy
    with pytest.raises(RuntimeError, match="changed every time"):
        fetch_search_bundle(index_url, cache, attempts=2)
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]


def test_a_lake_without_a_bundle_says_so(s3_prefix: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no complete search bundle"):
        fetch_search_bundle(f"{s3_prefix}/index", tmp_path)
    assert fetch_search_bundle(tmp_path / "index", tmp_path / "c") == tmp_path / "index"
