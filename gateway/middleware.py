"""ASGI middleware that every dialect benefits from."""

from __future__ import annotations

import contextlib
import re

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REPEATED_SLASHES = re.compile(r"/{2,}")


class CollapseSlashes:
    """`//seg/1` -> `/seg/1`.

    Clients build URLs by concatenation: the roboflow SDK's `local="http://host:9001/"`
    becomes `http://host:9001//seg/1` for instance segmentation, and an `API_URL` with a
    trailing slash does the same.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            # In place, not on a copy: the router's match (scope["route"]) has to reach
            # the request observer outside (gateway/observe.py).
            scope["path"] = REPEATED_SLASHES.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


class DrainUnreadBody:
    """Before an early response goes out, read and drop the rest of the request body.

    Errors are decided before the body is read (a wrong key, a bad parameter, a body
    over its limit), which keeps them cheap. But an HTTP/1.1 server that answers and
    closes while the client is still sending makes the client see a reset instead of
    the 413 or 401 it was sent, and a connection whose body was left unread cannot be
    reused (a pooled client may pick it as it closes). So the rest of a body announced
    within `max_bytes` is read and dropped (never buffered, never parsed) as long as it
    keeps arriving: at most `max_seconds` in all and `idle_seconds` between chunks.
    Whatever is not drained, the response says `Connection: close`.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, max_seconds: float, idle_seconds: float = 1.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        finished = False

        async def tracked() -> Message:
            nonlocal finished
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                finished = True
            return message

        async def drain() -> None:
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                return
            drained = 0
            with anyio.move_on_after(self.max_seconds):
                while not finished and drained <= self.max_bytes:
                    with anyio.fail_after(self.idle_seconds):
                        drained += len((await tracked()).get("body", b""))

        async def send_after_drain(message: Message) -> None:
            if message["type"] == "http.response.start" and not finished:
                with contextlib.suppress(TimeoutError):
                    await drain()
                if not finished:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, tracked, send_after_drain)
