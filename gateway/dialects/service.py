"""Service routes: liveness, readiness, server info and the model registry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.dialects.http import json_response
from gateway.results import Task
from gateway.state import GatewayState

TASK_TYPES = {
    Task.DETECT: "object-detection",
    Task.INSTANCE: "instance-segmentation",
    Task.SEMANTIC: "semantic-segmentation",
    Task.CLASSIFY: "classification",
}


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: GatewayState | None = getattr(request.app.state, "gateway", None)
    if state is None:
        return json_response({"status": "loading"}, 503, {"Retry-After": "1"})
    return json_response({"status": "ready", "models": len(state.registry)})


async def info(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    return json_response(
        {"name": "vision-gateway", "version": __version__, "uuid": state.instance_id}
    )


async def model_registry(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    models = []
    for model in state.registry:
        pre = model.spec.preprocessing
        models.append(
            {
                "model_id": model.id,
                "task_type": TASK_TYPES[model.task],
                "batch_size": None if model.spec.dynamic_batch else 1,
                "input_height": pre.height,
                "input_width": pre.width,
            }
        )
    return json_response({"models": models})


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/info", info),
        Route("/model/registry", model_registry),
    ]
