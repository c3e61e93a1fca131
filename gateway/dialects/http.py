"""HTTP helpers every dialect shares: status codes by exception class, capped bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from gateway.errors import (
    Forbidden,
    GatewayError,
    ModelNotFound,
    NotAcceptable,
    PayloadTooLarge,
    RequestError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
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
    (UnsupportedMediaType, 415),
    (NotAcceptable, 406),
    (RequestError, 400),
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


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with PayloadTooLarge as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    return await read_capped(request.stream(), declared, limit, "request body")


async def parse_form(request: Request, body: bytes) -> FormData:
    """multipart/form-data from a body already read (and size-checked)."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, receive=replay).form(max_files=4, max_fields=32)


def bearer_or_query_key(request: Request) -> str | None:
    """`?api_key=` or `Authorization: Bearer <key>`."""
    key = request.query_params.get("api_key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def endpoint(handler: Handler, error: Callable[[GatewayError], Response]) -> Endpoint:
    """A Starlette endpoint: the gateway's state in, errors in the dialect's shape out."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.gateway)
        except GatewayError as exc:
            return error(exc)

    return run


def error_body(key: str) -> Callable[[GatewayError], Response]:
    """Errors as `{key: message}` with the status of their class."""

    def render(exc: GatewayError) -> Response:
        return json_response({key: str(exc)}, status_for(exc), retry_headers(exc))

    return render
