"""create_app(settings): the Starlette app; its lifespan loads models, keys and the task runner."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from gateway.dialects import inference_server, matting, openapi, playground, sagemaker, service
from gateway.dialects.deepomatic import routes as deepomatic
from gateway.dialects.deepomatic import tasks as deepomatic_tasks
from gateway.dialects.http import json_response
from gateway.dialects.roboflow import routes as roboflow
from gateway.jobs.runner import JobRunner, open_store
from gateway.metrics import Metrics
from gateway.middleware import CollapseSlashes, DrainUnreadBody
from gateway.observe import ObservedApp
from gateway.registry import ModelRegistry
from gateway.settings import Settings
from gateway.state import GatewayState

log = logging.getLogger(__name__)


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) as JSON, like every other error."""
    if not isinstance(exc, HTTPException):
        return await internal_error(request, exc)
    return json_response({"message": exc.detail}, exc.status_code, exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered without internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"message": "internal error"}, 500)


def create_app(settings: Settings, registry: ModelRegistry | None = None) -> Starlette:
    """The gateway's ASGI app. Models load in the lifespan unless a registry is given.

    Dialects are mounted in order; Roboflow's goes last because its bare
    `/{project}/{version}` and `/{workspace}` would match any such path.
    """

    metrics = Metrics()  # this app's own registry: tests build many apps in one process

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await anyio.to_thread.run_sync(GatewayState.build, settings, registry, metrics)
        beat = settings.task_heartbeat
        store = open_store(settings.redis_url, settings.task_db, settings.task_ttl, 3 * beat + 1)
        state.jobs = JobRunner(
            store,
            {deepomatic_tasks.KIND: partial(deepomatic_tasks.run_task, state)},
            concurrency=settings.task_concurrency,
            max_queued=settings.max_pending_tasks,
            heartbeat_every=beat,
        )
        await state.jobs.start()
        app.state.gateway = state
        try:
            yield
        finally:
            state.draining = True
            await state.jobs.stop(grace=settings.shutdown_grace)
            await state.pipeline.aclose()
            state.access.close()

    return ObservedApp(  # request ids, access log and request metrics around it all
        metrics,
        routes=[
            *service.routes(),
            *openapi.routes(),
            *sagemaker.routes(),
            *matting.routes(),
            *deepomatic.routes(),
            *inference_server.routes(),
            *playground.routes(),  # GET / and /playground: before `GET /{workspace}`
            *roboflow.routes(),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                DrainUnreadBody,
                max_bytes=2 * settings.max_body_bytes,
                max_seconds=min(settings.body_timeout, 5.0),
            ),
            Middleware(CollapseSlashes),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
