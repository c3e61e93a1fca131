"""create_app(settings): the Starlette app; its lifespan loads models and keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette

from gateway.dialects import service
from gateway.dialects.roboflow import routes as roboflow
from gateway.registry import ModelRegistry
from gateway.settings import Settings
from gateway.state import GatewayState


def create_app(settings: Settings, registry: ModelRegistry | None = None) -> Starlette:
    """The gateway's ASGI app. Models load in the lifespan unless a registry is given.

    Dialects are mounted in order; Roboflow's bare `/{project}/{version}` goes last
    because it would match any two-segment path.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.gateway = await anyio.to_thread.run_sync(GatewayState.build, settings, registry)
        yield

    return Starlette(routes=[*service.routes(), *roboflow.routes()], lifespan=lifespan)
