"""Service routes: liveness, readiness, server info and Prometheus metrics."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.dialects.http import json_response
from gateway.state import GatewayState


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 while the gateway takes more work; 503 while loading, saturated or draining.

    A load balancer's readiness probe moves traffic to other replicas while this one
    is saturated (in-flight limit reached, or some model's queue full) or shutting down.
    """
    state: GatewayState | None = getattr(request.app.state, "gateway", None)
    if state is None:
        return json_response({"status": "loading"}, 503, {"Retry-After": "1"})
    load = {
        "inflight": state.inflight.count,
        "max_inflight": state.inflight.limit,
        "saturated_models": state.admission.saturated(),
    }
    if state.draining:
        return json_response({"status": "draining", **load}, 503, {"Retry-After": "5"})
    if state.inflight.saturated or load["saturated_models"]:
        return json_response({"status": "saturated", **load}, 503, {"Retry-After": "1"})
    return json_response({"status": "ready", "models": len(state.registry), **load})


async def info(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    return json_response(
        {"name": "vision-gateway", "version": __version__, "uuid": state.instance_id}
    )


async def metrics(request: Request) -> Response:
    """The Prometheus text format, of every worker process. No API key: it is scraped
    from inside the network, and holds no key, image or raw path (gateway/metrics.py)."""
    state: GatewayState = request.app.state.gateway
    body, content_type = await anyio.to_thread.run_sync(state.metrics.exposition)
    return Response(body, headers={"Content-Type": content_type})


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/info", info),
        Route("/metrics", metrics, methods=["GET"]),
    ]
