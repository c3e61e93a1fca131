"""Service routes: liveness, readiness and server info."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.dialects.http import json_response
from gateway.state import GatewayState


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


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/info", info),
    ]
