"""Every HTTP request observed: a request id, an access log line, the request metrics.

`ObservedApp` is the gateway's Starlette app with `ObserveRequests` wrapped around its
whole middleware stack, outside Starlette's error middleware, so that a 500 from an
unhandled error is logged, counted and given its X-Request-ID like any other response.

The request id is the client's `X-Request-ID` when it is a sane token (at most 128 of
`A-Za-z0-9._:-`), else a fresh uuid4 hex; it is sent back in `X-Request-ID` and is on
every log record emitted while the request is handled (gateway/logs.py). The access log
(logger `gateway.access`) has the path without its query string, which may carry an
API key, and names the key's owner (`client`), never the key.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import context
from gateway.metrics import Metrics

access_log = logging.getLogger("gateway.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED = "unmatched"
NOT_REJECTIONS = frozenset({"/readyz"})  # 503 there says "not ready", it refuses no work
MAX_LOGGED = 512  # characters of a logged path or user agent
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # percent-decoded into a path: re-encoded to log it


def request_id_from(headers: Headers) -> str:
    given = headers.get("x-request-id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's path template (set by Starlette's router), else "unmatched"."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class ObserveRequests:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        request = context.RequestContext(request_id_from(headers))
        header = (REQUEST_ID_HEADER, request.request_id.encode())
        status = 0
        sent = 0

        async def observed_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                kept = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*kept, header]}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        token = context.bind(request)
        self.metrics.inflight.inc()
        try:
            await self.app(scope, receive, observed_send)
        except BaseException as exc:
            # No response: the error middleware answers 500 for an Exception; anything
            # else is the request being cancelled (the client went away): nginx's 499.
            status = status or (500 if isinstance(exc, Exception) else 499)
            raise
        finally:
            self.metrics.inflight.dec()
            try:
                self._finish(scope, headers, request, status, sent, started)
            finally:
                context.unbind(token)

    def _finish(
        self,
        scope: Scope,
        headers: Headers,
        request: context.RequestContext,
        status: int,
        sent: int,
        started: float,
    ) -> None:
        seconds = time.perf_counter() - started
        route = route_of(scope)
        method = str(scope.get("method", ""))
        self.metrics.request(route, method, status, request.model, seconds)
        if status == 503 and not request.rejected and route not in NOT_REJECTIONS:
            self.metrics.rejected("unavailable")  # refused with no reason given
        client = scope.get("client")
        path = CONTROL.sub(lambda c: f"%{ord(c.group()):02X}", str(scope.get("path", "")))
        path = path[:MAX_LOGGED]
        fields: dict[str, Any] = {
            "request_id": request.request_id,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "model": request.model,
            "client": request.client,
            "remote": client[0] if client else "",
            "user_agent": headers.get("user-agent", "")[:MAX_LOGGED],
            "bytes": sent,
        }
        access_log.info("%s %s %d %.1f ms", method, path, status, seconds * 1000, extra=fields)


class ObservedApp(Starlette):
    """Starlette with ObserveRequests outside all of its middleware."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def build_middleware_stack(self) -> ASGIApp:
        return ObserveRequests(super().build_middleware_stack(), self.metrics)
