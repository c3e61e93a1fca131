"""HTTP helpers every dialect shares: status codes by exception class, capped bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from gateway.errors import (
    Forbidden,
    GatewayError,
    InvalidParameter,
    ModelNotFound,
    NotAcceptable,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.settings import Settings
from gateway.streams import read_capped

if TYPE_CHECKING:
    from gateway.state import GatewayState

Handler = Callable[[Request, "GatewayState"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]

# Most specific first; a RequestError not listed is a plain 400.
STATUS_BY_ERROR: tuple[tuple[type[GatewayError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (ModelNotFound, 404),
    (PayloadTooLarge, 413),
    (RequestTimeout, 408),
    (UnsupportedMediaType, 415),
    (NotAcceptable, 406),
    (RequestError, 400),
    (TooManyRequests, 429),
    (Unavailable, 503),
)


def status_for(exc: GatewayError) -> int:
    """The HTTP status for a gateway error; 500 only for errors that are the gateway's own."""
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)), 500)


def retry_headers(exc: GatewayError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else {}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def read_body(request: Request, settings: Settings, limit: int | None = None) -> bytes:
    """The whole body, refused with PayloadTooLarge as soon as it passes the limit
    (`limit`, else the settings' body limit), and with RequestTimeout when it has not
    all arrived within the settings' body timeout (a client trickling bytes)."""
    declared = request.headers.get("content-length")
    cap = settings.max_body_bytes if limit is None else limit
    try:
        with anyio.fail_after(settings.body_timeout):
            return await read_capped(request.stream(), declared, cap, "request body")
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {settings.body_timeout:g}s"
        ) from None


async def parse_form(request: Request, body: bytes, settings: Settings) -> FormData:
    """multipart/form-data from a body already read (and size-checked), with at most
    `max_form_parts` parts."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    parts = settings.max_form_parts
    try:
        return await Request(request.scope, receive=replay).form(max_files=parts, max_fields=parts)
    except HTTPException as exc:  # Starlette's own refusals: too many parts, bad boundary
        raise InvalidParameter(f"multipart/form-data: {exc.detail}") from None


def bearer_or_query_key(request: Request) -> str | None:
    """`?api_key=` or `Authorization: Bearer <key>`."""
    key = request.query_params.get("api_key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def endpoint(handler: Handler, error: Callable[[GatewayError], Response]) -> Endpoint:
    """A Starlette endpoint: the gateway's state in, errors in the dialect's shape out.

    Every request counts against the process's in-flight limit and runs under the
    request deadline; both answer 503 + Retry-After in the dialect's shape. The per-key
    limits the handler's key check takes (state.access) are given back at its end.
    """

    async def run(request: Request) -> Response:
        state: GatewayState = request.app.state.gateway
        deadline = state.settings.request_timeout
        try:
            with state.inflight.hold(), anyio.fail_after(deadline):
                async with state.access.request():
                    return await handler(request, state)
        except TimeoutError:
            exc = Unavailable(f"the request did not finish within {deadline:g}s", reason="deadline")
            state.metrics.rejected(exc.reason)
            return error(exc)
        except GatewayError as exc:
            if isinstance(exc, Unavailable):  # refused for load or by a limit: counted
                state.metrics.rejected(exc.reason)
            return error(exc)

    return run


def error_body(key: str) -> Callable[[GatewayError], Response]:
    """Errors as `{key: message}` with the status of their class."""

    def render(exc: GatewayError) -> Response:
        return json_response({key: str(exc)}, status_for(exc), retry_headers(exc))

    return render
