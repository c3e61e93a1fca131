"""create_app(settings): the Starlette app; its lifespan loads the models, dialects route."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dialects.roboflow import routes as roboflow
from gateway.registry import ModelRegistry
from gateway.settings import Settings


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def list_models(request: Request) -> Response:
    registry: ModelRegistry = request.app.state.registry
    return JSONResponse(
        {
            "models": [
                {"model_id": m.id, "task": m.task.value, "classes": list(m.spec.class_names)}
                for m in registry
            ]
        }
    )


def create_app(settings: Settings, registry: ModelRegistry | None = None) -> Starlette:
    """The gateway's ASGI app. Models load in the lifespan unless a registry is given."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.registry = registry or await anyio.to_thread.run_sync(
            ModelRegistry.from_settings, settings
        )
        yield

    routes = [Route("/healthz", healthz), Route("/models", list_models), *roboflow.routes()]
    return Starlette(routes=routes, lifespan=lifespan)
