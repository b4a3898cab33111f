"""The application factory. Nothing happens at import: the engine, the migration and the model load
happen in the lifespan of the app that create_app returns."""

from __future__ import annotations

import asyncio
import contextlib
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


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})  # FastAPI's list, field names in loc
    return JSONResponse({"detail": detail, "request_id": _rid(request)}, status_code=422)


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
    return await http_exception_handler(request, exc)


async def _internal_handler(request: Request, exc: Exception) -> JSONResponse:
    get_logger().error("unhandled error", exc_info=exc, extra={"event": "unhandled", "request_id": _rid(request)})
    return _error(request, 500, MSG_INTERNAL)


def create_app(settings: Settings | None = None, *, bundle_loader: BundleLoader | None = None,
               engine: Any = None) -> FastAPI:
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
        poller = asyncio.create_task(_poll(state)) if settings.reload_poll_seconds > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            if state.engine is not None and engine is None:  # dispose only what we created
                state.engine.dispose()

    from riskscore.api.routes import api_router

    app = FastAPI(title="riskscore", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.riskscore = state
    app.include_router(api_router)
    from riskscore.web import mount_web

    mount_web(app)  # server-rendered pages (riskscore/web), same state and store
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(StoreError, _store_handler)
    app.add_exception_handler(RiskscoreError, _riskscore_handler)
    app.add_exception_handler(Exception, _internal_handler)
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes)
    _document_common_errors(app)
    return app


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
