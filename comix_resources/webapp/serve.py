"""``serve``: the search page under uvicorn, configured from the environment contract.

The lake is ``COMIX_LAKE_URL`` (a folder, or an object store such as ``s3://comix/lake``,
whose bundle is copied to ``$COMIX_HOME/cache/search-bundles`` once per publication and whose
page images are read where they are). Link bases come from the arguments, else
``COMIX_DAGSTER_UI`` and ``COMIX_MLFLOW_UI`` (``ComixSettings``; defaults: the local ``comix
demo`` ports). Thumbnails are cached under ``$COMIX_HOME/cache/thumbnails``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    bundle_dir: Path | str | None = None,
    lake_root: Path | str | None = None,
    dagster_url: str | None = None,
    mlflow_url: str | None = None,
    log_level: str = "info",
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the search page until interrupted (Ctrl-C or SIGTERM).

    ``allowed_hosts``: the Host header values to answer (``*`` for any); by default the bound
    address, plus the loopback names when that is a loopback address.

    ``lake_root`` (a folder or URL) defaults to the lake (``COMIX_LAKE_URL``, else
    ``$COMIX_HOME/lake``), ``bundle_dir`` to its ``index/`` (the ``embedding_index`` asset's
    output). Raises SystemExit with a message when no bundle has been materialized yet.
    """
    import uvicorn

    from comix_resources.lake import Lake
    from comix_resources.search.bundle import INDEX_DIR, MANIFEST, fetch_search_bundle
    from comix_resources.settings import ComixSettings
    from comix_resources.webapp.app import WebSettings, create_app

    settings = ComixSettings.from_env()
    lake = str(lake_root) if lake_root is not None else settings.lake_url
    where = (
        str(bundle_dir) if bundle_dir is not None else Lake(lake).url(Lake(lake).path(INDEX_DIR))
    )
    try:
        bundle = fetch_search_bundle(where, settings.cache_dir / "search-bundles")
    except FileNotFoundError:
        bundle = None
    if bundle is None or not (bundle / MANIFEST).is_file():
        raise SystemExit(f"no search index at {where}: materialize the embedding_index asset first")
    hosts = tuple(allowed_hosts) or default_allowed_hosts(host)
    if "*" in hosts:
        print(f"warning: {host} answers any Host header (pass --allowed-host NAME)", flush=True)
    web = WebSettings(
        dagster_url=dagster_url or settings.dagster_ui,
        mlflow_url=mlflow_url or settings.mlflow_ui,
        cache_dir=settings.cache_dir / "thumbnails",
        allowed_hosts=hosts,
    )
    app = create_app(bundle, lake, web, warm_encoder=True)
    print(f"CoMix search on http://{host}:{port} (API docs at /docs), index {where}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def default_allowed_hosts(host: str) -> tuple[str, ...]:
    """The bound address; for a loopback bind also its other names; for a wildcard bind
    (``0.0.0.0``, ``::``) any host, since the names people use for the machine are unknown."""
    import ipaddress

    from comix_resources.webapp.app import LOOPBACK_HOSTS

    if host in ("", "0.0.0.0", "::"):
        return ("*",)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return tuple(dict.fromkeys((host, *LOOPBACK_HOSTS))) if loopback else (host,)
