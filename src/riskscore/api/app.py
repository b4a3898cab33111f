"""The application factory. Nothing happens at import: the engine, the migration and the model load
happen in the lifespan of the app that create_app returns."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskscore.api.schemas import NOTICE_EN, ErrorBody
from riskscore.errors import MSG_DB_UNAVAILABLE, AuthError, RiskscoreError, StoreError
from riskscore.service.logs import configure_logging, get_logger
from riskscore.service.middleware import MSG_INTERNAL, RequestContextMiddleware
from riskscore.service.state import BundleLoader, ServiceState, default_loader
from riskscore.settings import Settings, get_settings

DESCRIPTION = (
    "Early-warning signals against early school leaving (VSV): legal/protocol rules and a calibrated "
    f"glass-box model, routed to human reviewers. {NOTICE_EN} Dit is een signaal voor een gesprek, geen besluit."
)


#: answers an operation may give besides its own, documented so clients (and the fuzzer) know them:
#: (status, description, applies to: "all" | "secured" | "body", carries Retry-After)
COMMON_RESPONSES: tuple[tuple[int, str, str, bool], ...] = (
    (400, "The request body could not be read (e.g. not UTF-8).", "body", False),
    (401, "Missing or invalid API key.", "secured", False),
    (413, "Request body too large.", "all", False),
    (429, "Too many failed API keys from this client; wait Retry-After seconds.", "secured", True),
    (500, "Internal error; request_id identifies it in the service log.", "all", False),
    (503, "Database or model unavailable; try again after Retry-After seconds.", "all", True),
)


def _document_common_errors(app: FastAPI) -> None:
    """Add COMMON_RESPONSES to every operation of the published schema (routes keep their own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorBody", ErrorBody.model_json_schema())
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        retry = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
        for item in schema.get("paths", {}).values():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                applies = {"all", *(["secured"] if op.get("security") else []),
                           *(["body"] if op.get("requestBody") else [])}
                for status, text, kind, with_retry in COMMON_RESPONSES:
                    if kind in applies:
                        op.setdefault("responses", {}).setdefault(str(status), {
                            "description": text, "content": body, **({"headers": retry} if with_retry else {})})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "request_id": _rid(request)}, status_code=status, headers=headers)


def _finite(value: Any) -> Any:
    """The value with every NaN/Infinity turned into its text: JSON (and our responses) cannot carry them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/v1/") and _is_web_path(request.url.path):
        from riskscore.web.pages import web_error

        return web_error(request, 400)
    detail = _finite(jsonable_encoder(exc.errors(), custom_encoder={Exception: str}))  # field names in loc
    return JSONResponse({"detail": detail, "request_id": _rid(request)}, status_code=422)


MSG_NON_FINITE = "JSON does not allow NaN or Infinity; send a finite number or null"
_JSON_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


class NonFiniteJsonMiddleware:
    """422 for a JSON body holding NaN, Infinity or -Infinity, on every route, before any route reads it.

    Python's json module accepts these tokens (RFC 8259 does not), and a float field would then
    carry NaN into scoring or break the response. The body is only parsed a second time when it
    contains one of the tokens as text, so ordinary requests pay a substring search."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in _JSON_METHODS:
            await self.app(scope, receive, send)
            return
        ctype = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"").lower()
        if b"json" not in ctype:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"NaN" in body or b"Infinity" in body:
            import json

            try:
                json.loads(body, parse_constant=_refuse_constant)
            except ValueError as exc:
                if str(exc) in ("NaN", "Infinity", "-Infinity"):
                    rid = scope.get("state", {}).get("request_id")
                    response = JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "msg": MSG_NON_FINITE,
                                                         "input": str(exc)}], "request_id": rid}, status_code=422)
                    await response(scope, receive, send)
                    return
        sent = {"done": False}

        async def replay() -> Any:
            if not sent["done"]:
                sent["done"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


#: paths that belong to the API or to framework pages; any other unknown path is a web page
_API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/static/")


def _is_web_path(path: str) -> bool:
    return not path.startswith(_API_PREFIXES)


async def _store_handler(request: Request, exc: Exception) -> JSONResponse:
    get_logger().error("database unavailable", extra={"event": "store_error", "error_type": type(exc).__name__,
                                                      "request_id": _rid(request)})
    return _error(request, 503, MSG_DB_UNAVAILABLE, {"Retry-After": "5"})


async def _riskscore_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RiskscoreError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else {}
    if getattr(exc, "retry_after", None) is not None:  # 429 from the failed-key throttle
        headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
    elif exc.http_status == 503:  # no model yet, registry down: transient by nature
        headers["Retry-After"] = "5"
    return _error(request, exc.http_status, str(exc), headers or None)


async def _http_handler(request: Request, exc: Exception) -> Response:
    """Framework errors (unreadable body, unknown path, wrong method) on the API in our error shape;
    the web pages keep FastAPI's default handling."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/v1/"):
        return _error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)
    if _is_web_path(request.url.path) and exc.status_code in (404, 405):
        from riskscore.web.pages import web_error

        return web_error(request, exc.status_code)  # a person followed a link: a page, not JSON
    return await http_exception_handler(request, exc)


async def _internal_handler(request: Request, exc: Exception) -> JSONResponse:
    get_logger().error("unhandled error", exc_info=exc, extra={"event": "unhandled", "request_id": _rid(request)})
    return _error(request, 500, MSG_INTERNAL)


#: the collector's thresholds in a serving process (Python's default: 700, 10, 10)
GC_THRESHOLDS = (50_000, 20, 100)


def settle_heap() -> None:
    """Once start-up is done: what it built (FastAPI, SQLAlchemy, pandas, the model) lives as long as the
    process, so it leaves the collector's generations (gc.freeze), and collections run less often.

    Why, measured (benchmarks/RESULTS.md): with the default thresholds a full collection ran every few
    requests and scanned the whole heap, and one bulk request of 1,000 pupils (190,000 absence records
    parsed into objects) set off dozens of them — the collector took 2–3× the time of the parsing it
    interrupted, and it was the service's tail. The request path makes few reference cycles."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_serving_app() -> FastAPI:
    """The app `riskscore serve` runs (uvicorn's factory): create_app from the environment, with the
    collector settled after start-up (settle_heap). Tests build apps with create_app, leaving their own
    process's collector alone."""
    return create_app(tune_gc=True)


def create_app(settings: Settings | None = None, *, bundle_loader: BundleLoader | None = None,
               engine: Any = None, tune_gc: bool = False) -> FastAPI:
    """Build the service. settings default to the environment (RISKSCORE_*); bundle_loader (returns a
    ModelBundle or (bundle, folder)) defaults to settings.bundle_path or the registry alias; engine
    defaults to one made from settings.database_url. Migrations run and the model loads at startup;
    a failure of either leaves the service up but not ready (/readyz 503) instead of crashing."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    state = ServiceState(settings=settings, loader=bundle_loader or default_loader(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log = get_logger()
        await run_in_threadpool(state.open_database, engine)
        try:
            await run_in_threadpool(state.reload, reason="startup")
        except RiskscoreError as exc:
            log.error("no model at startup; not ready", extra={"event": "model_missing", "error_type": type(exc).__name__})
        if tune_gc:
            settle_heap()
        poller = asyncio.create_task(_poll(state)) if settings.reload_poll_seconds > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            state.close_database()
            if state.engine is not None and engine is None:  # dispose only what we created
                state.engine.dispose()

    from riskscore.api.routes import api_router

    app = FastAPI(title="riskscore", version="1", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.riskscore = state
    app.include_router(api_router)
    _local_docs(app)
    from riskscore.web import mount_web

    mount_web(app)  # server-rendered pages (riskscore/web), same state and store
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(StoreError, _store_handler)
    app.add_exception_handler(RiskscoreError, _riskscore_handler)
    app.add_exception_handler(Exception, _internal_handler)
    app.add_middleware(NonFiniteJsonMiddleware)  # inside the size limit below
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes)
    _document_common_errors(app)
    return app


DOCS_ASSETS = "/docs/assets"


def _local_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package's files, served here: no CDN, works offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="riskscore – API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")


async def _poll(state: ServiceState) -> None:
    """Reload every reload_poll_seconds; a bad candidate is logged and the serving model stays."""
    while True:
        await asyncio.sleep(state.settings.reload_poll_seconds)
        try:
            await run_in_threadpool(state.reload, reason="poll")
        except RiskscoreError:
            pass  # logged and counted by reload()
        except Exception:  # never let the poller die silently
            get_logger().error("model poll failed", exc_info=True, extra={"event": "poll_failed"})
