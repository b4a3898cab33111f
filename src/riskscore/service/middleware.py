"""One pure-ASGI middleware: request id, body size limit, metrics, the request log and the last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so the body limit also counts a streamed body without a
Content-Length, and so nothing buffers a large upload before it is refused.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskscore.service.logs import get_logger
from riskscore.service.metrics import ApiMetrics

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MSG_TOO_LARGE = "request body larger than {limit} bytes"
MSG_INTERNAL = "internal error; the request id identifies it in the service log"


class _BodyTooLarge(Exception):
    pass


def route_template(scope: Scope) -> str:
    """The matched route's template (never the raw path, which may hold a student id)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Assigns X-Request-ID, enforces max_body_bytes (413), counts and logs every request."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500, "started": False}
        too_large = {"hit": False}

        async def send_wrapper(message: Message) -> None:
            if too_large["hit"]:
                return  # the app's own (400) answer to the aborted body is replaced by our 413
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        received = {"n": 0}

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["n"] += len(message.get("body", b""))
                if received["n"] > self.max_body_bytes:
                    too_large["hit"] = True
                    raise _BodyTooLarge
            return message

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._error(send, 413, MSG_TOO_LARGE.format(limit=self.max_body_bytes), request_id)
                status["code"] = 413
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            pass
        except Exception:
            get_logger().error("unhandled error", exc_info=True,
                               extra={"event": "unhandled", "request_id": request_id, "route": route_template(scope)})
            if not status["started"]:
                await self._error(send, 500, MSG_INTERNAL, request_id)
            status["code"] = 500
        if too_large["hit"]:
            too_large["hit"] = False
            if not status["started"]:
                await self._error(send, 413, MSG_TOO_LARGE.format(limit=self.max_body_bytes), request_id)
            status["code"] = 413
        self._observe(scope, status["code"], time.perf_counter() - started, request_id)

    async def _error(self, send: Send, code: int, message: str, request_id: str) -> None:
        body = json.dumps({"error": message, "request_id": request_id}).encode()
        await send({"type": "http.response.start", "status": code, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, code: int, seconds: float, request_id: str) -> None:
        route = route_template(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(route=route, method=method, status=str(code)).inc()
        self.metrics.latency.labels(route=route, method=method).observe(seconds)
        state: Any = scope.get("state", {})
        extra = {"event": "request", "request_id": request_id, "method": method, "route": route, "status": code,
                 "duration_ms": round(seconds * 1000, 2)}
        if isinstance(state, dict) and state.get("role"):
            extra["role"] = state["role"]
        get_logger().info("request", extra=extra)
