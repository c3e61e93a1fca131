"""ASGI middleware that every dialect benefits from."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

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
            scope = dict(scope)
            scope["path"] = REPEATED_SLASHES.sub("/", scope["path"])
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)
