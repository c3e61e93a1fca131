"""The web playground: a page that calls the gateway's own routes from the browser.

    GET /, GET /playground               the page (gateway/playground/index.html)
    GET /playground/playground.js        its script
    GET /playground/playground.css       its style sheet
    GET /playground/models               {"models": [{id, task, route}]}: what the page offers

Plain HTML, CSS and JavaScript shipped as package data: no build step, nothing loaded
from elsewhere. The Content-Security-Policy keeps it that way: scripts, styles and
requests go to this origin only; images may also be the http(s) URL a user types (the
gateway fetches it for the prediction, the browser shows it under the overlay).

Mounted before Roboflow's routes, whose `GET /{workspace}` would match `/playground`
(`playground` is a reserved workspace name, gateway/modelconfig.py); `POST /` stays the
roboflow SDK's key check. The page keeps the API key in memory and sends it in a header,
never in its own URL.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dialects.http import json_response
from gateway.dialects.matting import matting_model
from gateway.dialects.roboflow.names import FAMILY_OF_TASK
from gateway.errors import GatewayError
from gateway.results import Task
from gateway.state import GatewayState

PAGE = "index.html"
ASSETS = {
    PAGE: "text/html; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
MATTING_ROUTE = "/human_image_segmentation"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob: http: https:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def asset(name: str) -> bytes:
    """One of the page's files, read from the installed package once."""
    return resources.files("gateway").joinpath("playground", name).read_bytes()


def serve(name: str) -> Response:
    return Response(asset(name), headers=HEADERS, media_type=ASSETS[name])


async def page(request: Request) -> Response:
    return serve(PAGE)


async def script(request: Request) -> Response:
    return serve("playground.js")


async def style(request: Request) -> Response:
    return serve("playground.css")


def model_list(state: GatewayState) -> list[dict[str, Any]]:
    """Every model a route of the page can call, with that route, in config order."""
    try:
        matte_id: str | None = matting_model(state).id
    except GatewayError:  # none configured, or GATEWAY_MATTING_MODEL is not one
        matte_id = None
    models = []
    for model in state.registry:
        if model.task in FAMILY_OF_TASK:
            route = f"/{FAMILY_OF_TASK[model.task]}/{model.id}"
        elif model.task is Task.MATTING and model.id == matte_id:
            route = MATTING_ROUTE
        else:
            continue
        models.append({"id": model.id, "task": model.task.value, "route": route})
    return models


async def models(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    return json_response({"models": model_list(state)}, headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    """Mount before Roboflow's routes (see the module's docstring)."""
    return [
        Route("/", page, methods=["GET"]),
        Route("/playground", page, methods=["GET"]),
        Route("/playground/playground.js", script, methods=["GET"]),
        Route("/playground/playground.css", style, methods=["GET"]),
        Route("/playground/models", models, methods=["GET"]),
    ]
