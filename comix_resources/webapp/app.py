"""The search page and its JSON API (FastAPI): ``create_app(bundle_dir, lake_root, ...)``.

Every query the page makes is a JSON call that a notebook can make too (interactive docs at
``/docs``, the schema at ``/openapi.json``)::

    import httpx
    api = httpx.Client(base_url="http://127.0.0.1:8765")
    api.get("/api/search", params={"text": "a dog in the rain", "k": 10}).json()
    api.get("/api/search", params={"page_id": "3f2a...-0004", "source": "amazon"}).json()
    api.post("/api/search/image", files={"file": open("page.png", "rb")},
             data={"mode": "panel"}).json()

``GET /api/search``
    Exactly one query: ``text`` (semantic, through the Closure Lite model), ``keyword``
    (every term in the panel text; "quoted phrases" stay whole), ``page_id`` or ``panel_id``
    ("<page_id>:<slot>", more like this). ``mode`` = ``page`` (default) or ``panel``; ``k``
    (1-200, default 20); ``include_self`` keeps the query's own page/panel in the results.
    Filters, each repeatable (any of the values): ``source``, ``collection``, ``book_id``,
    ``page_type`` (``unknown`` = not classified), ``cluster`` (needs the corpus map), and
    ``is_comic`` (true/false).
``POST /api/search/image``
    multipart: ``file`` (an image, at most ``max_upload_bytes`` and ``max_upload_pixels``),
    ``mode``, ``k`` and the same filters as form fields. Page mode detects the panels of the
    upload (returned as ``query.panels``); panel mode embeds it as one panel.

Both answer ``{"mode", "k", "query", "filters", "candidates", "strategy", "took_ms",
"model", "results": [...]}``; a result carries ``rank, score, page_id, book_id, source,
collection, page_index, width, height, page_type, is_comic, cluster, panels`` (``slot, order,
box`` [x, y, w, h] in ``width`` x ``height`` pixels, ``text``, ``panel_id``), ``text``,
``thumbnail_url``, ``image_url`` and ``links`` (Dagster asset, MLflow model version); panel
mode adds ``panel_id`` and ``slot`` of the matching panel.

``GET /api/info`` (counts, model, links), ``GET /api/facets`` (filter values with counts),
``GET /api/books?collection=``, ``GET /api/pages?prefix=``, ``GET /api/pages/random``,
``GET /api/pages/{page_id}`` (one page's record), ``GET /api/pages/{page_id}/image?size=thumb|
large`` (a downscaled JPEG). Images are only ever served by page id; an unknown id is a 404.
Errors are JSON ``{"error": message}`` with 400 (bad input, or a ``Host`` header not in the
allow-list), 404 (unknown id), 413 (upload too large), 422 (malformed query, numbers out of
range), 503 (model not loadable) or 500 (no details leave the server, and the connection stays
usable).

Every response carries a Content-Security-Policy (scripts, styles, images and requests from
this origin only; no framing), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``
and ``Referrer-Policy: no-referrer``. Requests whose ``Host`` is not in
``WebSettings.allowed_hosts`` (default: the loopback names; ``comix serve`` adds the address
it binds) are refused, so a page on another site cannot reach the server through DNS
rebinding. ``/docs`` is Swagger UI served from the ``fastapi-offline`` package's files, with
no CDN and no inline script.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import fastapi_offline
import numpy as np
from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comix_resources.lake import Lake
from comix_resources.search.bundle import SearchBundle, load_embedding_map
from comix_resources.webapp.engine import (
    MODES,
    NO_CLUSTER,
    Filters,
    Hit,
    QueryError,
    SearchEngine,
    SearchOutcome,
)
from comix_resources.webapp.images import SIZES, ImageRejected, ThumbnailCache, decode_upload

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_K = 200
UPLOAD_PATHS = ("/api/search/image",)
# Swagger UI's bundle and stylesheet, as the fastapi-offline package ships them.
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# A cluster id is an int32 in the catalog; anything else is a malformed query, not a 500.
ClusterId = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
SECURITY_HEADERS = {
    "content-security-policy": "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data: blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@dataclass(frozen=True)
class WebSettings:
    """What the server links to and what it accepts."""

    dagster_url: str = "http://127.0.0.1:3000"
    mlflow_url: str = "http://127.0.0.1:5000"
    cache_dir: Path | None = None  # thumbnails on disk; None keeps them in memory only
    thumbnail_memory_items: int = 512
    max_upload_bytes: int = 20 * 1024**2
    max_upload_pixels: int = 40_000_000
    # Memory-map the indexes: starts in a second at 1M pages and shares pages between workers.
    view: bool = True
    # One query is a batch of one: more torch threads buy nothing and, on a shared machine,
    # cost 10x (measured: 21 ms with 1 thread, 150-470 ms with 2 under load).
    torch_threads: int = 1
    # Host header values (without port) the server answers; "*" accepts any.
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(
                        (name.encode(), value.encode())
                        for name, value in SECURITY_HEADERS.items()
                        if name.encode() not in present
                    ),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class InternalErrors:
    """ASGI middleware: an unexpected exception is a JSON 500 and nothing more.

    Starlette's own handler for ``Exception`` answers and then re-raises, which makes the
    server drop the connection: the client's next keep-alive request fails too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            logger.exception("error answering %s", scope.get("path"))
            if not started:
                await _error(500, "internal error (see the server log)")(scope, receive, send)


class UploadTooLarge(Exception):
    pass


class UploadLimit:
    """ASGI middleware: refuse upload bodies over ``limit`` bytes before they are spooled.

    Content-Length is checked up front; chunked bodies are counted as they arrive, because
    Starlette's multipart parser would otherwise write any size to a temporary file.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: tuple[str, ...] = UPLOAD_PATHS) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        # Multipart framing adds a few hundred bytes around the file itself.
        limit = self.limit + 64 * 1024
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise UploadTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except UploadTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        mb = self.limit / 2**20
        await JSONResponse({"error": f"the upload is larger than {mb:.0f} MB"}, status_code=413)(
            {"type": "http"}, _no_body, send
        )


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class _LazyEncoder:
    """The query encoder, built on first use (loading torch and the encoders takes seconds)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._value: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._value is None and self._error is None:
            with self._lock:
                if self._value is None and self._error is None:
                    try:
                        self._value = self._factory()
                    except Exception as error:
                        logger.exception("cannot load the query encoder")
                        self._error = f"{type(error).__name__}: {error}"
        if self._value is None:
            raise QueryError(f"the model could not be loaded ({self._error})", status=503)
        return self._value

    def warm(self) -> None:
        threading.Thread(target=self._warm, name="comix-query-encoder", daemon=True).start()

    def _warm(self) -> None:
        # get() logs a failure; the queries that need the model will report it.
        with contextlib.suppress(QueryError):
            self.get()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def create_app(
    bundle_dir: Path | str,
    lake_root: Path | str,
    settings: WebSettings | None = None,
    *,
    query_encoder: Any = None,
    warm_encoder: bool = False,
) -> FastAPI:
    """The search app over the bundle in ``bundle_dir`` and the page images in ``lake_root``.

    ``query_encoder``: a ``QueryEncoder`` (tests share one), or None to build one from the
    bundle's model on the first text or image query (``warm_encoder`` starts that at once).
    """
    settings = settings or WebSettings()
    bundle = SearchBundle.load(bundle_dir, view=settings.view)
    lake = Lake(lake_root)
    engine = SearchEngine(bundle, load_embedding_map(lake_root))
    thumbnails = ThumbnailCache(lake, settings.cache_dir, settings.thumbnail_memory_items)
    if query_encoder is not None:
        encoder = _LazyEncoder(lambda: query_encoder)
    else:

        def build() -> Any:
            import torch

            from comix_resources.closure_lite.query import QueryEncoder

            torch.set_num_threads(settings.torch_threads)
            return QueryEncoder.from_model_dir(bundle.model_dir)

        encoder = _LazyEncoder(build)
        if warm_encoder:
            encoder.warm()

    manifest = bundle.manifest
    model = _model_info(manifest, settings.mlflow_url)
    app = FastAPI(
        title="CoMix search",
        description="Search comic pages and panels by image, text, keywords or page id.",
        version=str(manifest.get("format_version", "1")),
        docs_url=None,  # our own /docs below: local assets, no inline script
        redoc_url=None,
    )
    # Added innermost first: the security headers wrap everything, refusals included.
    app.add_middleware(UploadLimit, limit=settings.max_upload_bytes)
    app.add_middleware(InternalErrors)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.engine = engine
    app.state.encoder = encoder

    @app.exception_handler(QueryError)
    async def _query_error(_: Request, error: QueryError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(ImageRejected)
    async def _image_error(_: Request, error: ImageRejected) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    # shaping results ----------------------------------------------------------------------
    def links(record: dict[str, Any]) -> dict[str, str]:
        base = settings.dagster_url.rstrip("/")
        # A shard's assets are under the shard's partition, not the collection's.
        partition = quote(str(record.get("partition") or record["collection"]), safe="")
        source = quote(str(record["source"]), safe="")
        out = {
            "dagster_pages": f"{base}/assets/{source}/pages?partition={partition}",
            "dagster_embeddings": f"{base}/assets/{source}/embeddings?partition={partition}",
        }
        if model.get("url"):
            out["mlflow_model"] = model["url"]
        return out

    def describe(record: dict[str, Any], hit: Hit | None = None, rank: int = 0) -> dict[str, Any]:
        page_id = str(record["page_id"])
        quoted = quote(page_id, safe="")
        panels = sorted(
            record.get("panels") or [], key=lambda p: (p["order"] is None, p["order"], p["slot"])
        )
        item: dict[str, Any] = {
            "rank": rank,
            "score": None if hit is None else round(hit.score, 5),
            **{
                k: record[k]
                for k in (
                    "page_id",
                    "book_id",
                    "source",
                    "collection",
                    "page_index",
                    "width",
                    "height",
                    "page_type",
                    "is_comic",
                )
            },
            "cluster": None if record.get("cluster") == NO_CLUSTER else record.get("cluster"),
            "map": None
            if record.get("x") is None
            else {"x": round(record["x"], 4), "y": round(record["y"], 4)},
            "panels": [
                {
                    "slot": p["slot"],
                    "order": p["order"],
                    "box": [round(float(v), 1) for v in p["box"] or []],
                    "text": p["text"] or "",
                    "panel_id": f"{page_id}:{p['slot']}",
                }
                for p in panels
            ],
            "text": record.get("text") or "",
            "thumbnail_url": f"/api/pages/{quoted}/image?size=thumb",
            "image_url": f"/api/pages/{quoted}/image?size=large",
            "links": links(record),
        }
        if hit is not None and hit.slot is not None:
            item["slot"] = hit.slot
            item["panel_id"] = f"{page_id}:{hit.slot}"
        return item

    def respond(
        outcome: SearchOutcome,
        mode: str,
        k: int,
        query: dict[str, Any],
        filters: Filters,
        started: float,
    ) -> dict[str, Any]:
        records = engine.records([h.row for h in outcome.hits])
        return {
            "mode": mode,
            "k": k,
            "query": query,
            "filters": filters.as_dict(),
            "candidates": outcome.candidates,
            "strategy": outcome.strategy,
            **outcome.extra,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "model": model,
            "results": [
                describe(r, h, i + 1)
                for i, (r, h) in enumerate(zip(records, outcome.hits, strict=True))
            ],
        }

    def make_filters(
        source: list[str],
        collection: list[str],
        book_id: list[str],
        page_type: list[str],
        is_comic: bool | None,
        cluster: list[int],
    ) -> Filters:
        clean = [[v for v in values if v != ""] for values in (source, collection, book_id)]
        return Filters(
            source=tuple(clean[0]),
            collection=tuple(clean[1]),
            book_id=tuple(clean[2]),
            page_type=tuple(v for v in page_type if v != ""),
            is_comic=is_comic,
            cluster=tuple(cluster),
        )

    def check_mode(mode: str) -> str:
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", 422)
        return mode

    # pages ----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", {"info": info()})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> Response:
        return templates.TemplateResponse(request, "docs.html", {"title": app.title})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # the API --------------------------------------------------------------------------------
    @app.get("/api/info", summary="Counts, model lineage and link bases")
    def info() -> dict[str, Any]:
        return {
            "pages": len(bundle.pages),
            "panels": len(bundle.panels),
            "catalog_pages": len(engine.page_ids),
            "has_map": engine.has_map,
            "index": {"pages": bundle.pages.kind, "panels": bundle.panels.kind},
            "created": manifest.get("created"),
            "model": model,
            "dagster_url": settings.dagster_url,
            "mlflow_url": settings.mlflow_url,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_upload_pixels": settings.max_upload_pixels,
            "max_k": MAX_K,
        }

    @app.get("/api/facets", summary="Filter values with page counts")
    def facets() -> dict[str, Any]:
        return engine.facets

    @app.get("/api/books", summary="Books, optionally of one collection")
    def books(
        collection: str | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500
    ) -> dict[str, Any]:
        return {"books": engine.books(collection, limit)}

    @app.get("/api/pages", summary="Page ids starting with a prefix")
    def pages(
        prefix: Annotated[str, Query(max_length=200)] = "",
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        return {"page_ids": engine.page_ids_with_prefix(prefix, limit)}

    @app.get("/api/pages/random", summary="A random page id")
    def random_page() -> dict[str, Any]:
        if not engine.page_ids:
            raise QueryError("the index is empty", 404)
        row = int(np.random.default_rng().integers(len(engine.page_ids)))
        return {"page_id": engine.page_ids[row]}

    @app.get("/api/pages/{page_id}", summary="One page's record")
    def page(page_id: str) -> dict[str, Any]:
        return describe(engine.records([engine.row(page_id)])[0])

    @app.get(
        "/api/pages/{page_id}/image",
        summary="A page image as a downscaled JPEG",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def page_image(page_id: str, size: str = "thumb") -> Response:
        if size not in SIZES:
            raise QueryError(f"size must be one of {', '.join(SIZES)}", 422)
        record = engine.records([engine.row(page_id)])[0]
        try:
            data = thumbnails.get(page_id, record["image_path"], size)
        except FileNotFoundError as error:
            raise QueryError(f"no image for page {page_id!r}", 404) from error
        return Response(
            data,
            media_type="image/jpeg",
            # Content-derived ids: the bytes behind a URL never change.
            headers={"Cache-Control": "public, max-age=86400, immutable"},
        )

    @app.get("/api/search", summary="Search by text, keywords, page id or panel id")
    def search(
        text: Annotated[str | None, Query(max_length=1000)] = None,
        keyword: Annotated[str | None, Query(max_length=1000)] = None,
        page_id: Annotated[str | None, Query(max_length=300)] = None,
        panel_id: Annotated[str | None, Query(max_length=300)] = None,
        mode: str = "page",
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 20,
        source: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
        collection: Annotated[list[str], Query()] = [],  # noqa: B006
        book_id: Annotated[list[str], Query()] = [],  # noqa: B006
        page_type: Annotated[list[str], Query()] = [],  # noqa: B006
        is_comic: bool | None = None,
        cluster: Annotated[list[ClusterId], Query()] = [],  # noqa: B006
        include_self: bool = False,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        mode = check_mode(mode)
        given = {
            name: value
            for name, value in (
                ("text", text),
                ("keyword", keyword),
                ("page_id", page_id),
                ("panel_id", panel_id),
            )
            if value is not None and value.strip()
        }
        if len(given) != 1:
            raise QueryError(
                "give exactly one of text, keyword, page_id, panel_id"
                + (f" (got {', '.join(given)})" if given else ""),
                422,
            )
        ((kind, value),) = given.items()
        value = value.strip()
        filters = make_filters(source, collection, book_id, page_type, is_comic, cluster)
        query: dict[str, Any] = {"kind": kind, "value": value}
        if kind == "keyword":
            outcome = engine.search_keywords(value, mode, k, filters)  # type: ignore[arg-type]
        else:
            exclude: list[int] = []
            if kind == "text":
                try:
                    vector = encoder.get().encode_text(value, mode)
                except ValueError as error:
                    if isinstance(error, QueryError):
                        raise
                    raise QueryError(str(error), 422) from error
            elif kind == "page_id":
                vector = engine.page_vector(value)
                if mode == "page":
                    exclude = [int(engine.cat_page[engine.row(value)])]
                else:
                    # The query page's own panels would crowd the top of a panel search.
                    exclude = [int(i) for i in engine.panels_of(engine.row(value))]
                    vector = _page_as_panel_query(engine, value, vector)
            else:
                row, at = engine.panel_row(value)
                vector = engine.panel_vector(value)
                if mode == "panel":
                    exclude = [at]
                else:
                    vector = _panel_as_page_query(engine, row, vector)
                    exclude = [int(engine.cat_page[row])]
            if include_self:
                exclude = []
            outcome = engine.search_vector(vector, mode, k, filters, exclude)  # type: ignore[arg-type]
        return respond(outcome, mode, k, query, filters, started)

    @app.post("/api/search/image", summary="Search with an uploaded page or panel image")
    async def search_image(
        file: Annotated[UploadFile, File(description="a page or panel image")],
        mode: Annotated[str, Form()] = "page",
        k: Annotated[int, Form(ge=1, le=MAX_K)] = 20,
        source: Annotated[list[str], Form()] = [],  # noqa: B006
        collection: Annotated[list[str], Form()] = [],  # noqa: B006
        book_id: Annotated[list[str], Form()] = [],  # noqa: B006
        page_type: Annotated[list[str], Form()] = [],  # noqa: B006
        is_comic: Annotated[str, Form()] = "",
        cluster: Annotated[list[ClusterId], Form()] = [],  # noqa: B006
    ) -> JSONResponse:
        started = time.perf_counter()
        mode = check_mode(mode)
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ImageRejected(
                f"the upload is larger than {settings.max_upload_bytes / 2**20:.0f} MB", 413
            )
        comic = {"": None, "true": True, "false": False}.get(is_comic.strip().lower(), "bad")
        if comic == "bad":
            raise QueryError("is_comic must be true, false or empty", 422)
        filters = make_filters(source, collection, book_id, page_type, comic, cluster)  # type: ignore[arg-type]
        image = decode_upload(data, settings.max_upload_pixels)
        # The model runs in a worker thread: the event loop keeps serving thumbnails meanwhile.
        from starlette.concurrency import run_in_threadpool

        embedded = await run_in_threadpool(encoder.get().encode_image, image, mode)
        outcome = await run_in_threadpool(engine.search_vector, embedded.vector, mode, k, filters)
        query = {
            "kind": "image",
            "value": file.filename or "upload",
            "width": embedded.width,
            "height": embedded.height,
            "panels": [list(b) for b in embedded.boxes],
        }
        return JSONResponse(respond(outcome, mode, k, query, filters, started))

    return app


def _page_as_panel_query(engine: SearchEngine, page_id: str, vector: np.ndarray) -> np.ndarray:
    """A page's vector for the panel index: the mean of its panels' vectors (the page vector
    lives in a different space when the model's pooling differs from a mean)."""
    rows = engine.panels_of(engine.row(page_id))
    if not len(rows):
        raise QueryError(f"page {page_id!r} has no panel embeddings", 404)
    mean = engine.vectors(engine.bundle.panels, rows).mean(0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 and math.isfinite(norm) else vector


def _panel_as_page_query(engine: SearchEngine, row: int, vector: np.ndarray) -> np.ndarray:
    """A panel asks the page index through its page's vector (spaces differ, as above)."""
    at = int(engine.cat_page[row])
    if at < 0:
        return vector
    return engine.page_vector(engine.page_ids[row])


def _model_info(manifest: dict[str, Any], mlflow_url: str) -> dict[str, Any]:
    """The bundle's model lineage with links into the MLflow UI (registry and run)."""
    base = mlflow_url.rstrip("/")
    name, version = manifest.get("model_name"), manifest.get("model_version")
    run_id, experiment = manifest.get("mlflow_run_id"), manifest.get("mlflow_experiment_id")
    return {
        "name": name,
        "version": version,
        "variant": manifest.get("variant"),
        "run_id": run_id,
        "url": f"{base}/#/models/{quote(str(name), safe='')}/versions/{quote(str(version))}"
        if name and version is not None
        else None,
        "run_url": f"{base}/#/experiments/{experiment}/runs/{run_id}"
        if run_id and experiment
        else None,
    }
