"""Roboflow hosted-route requests: read the image and parameters, predict, render JSON."""

from __future__ import annotations

import time

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dialects.roboflow.params import percent_or_fraction
from gateway.dialects.roboflow.render import render_json
from gateway.errors import (
    GatewayError,
    InvalidImage,
    InvalidParameter,
    ModelNotFound,
    RequestError,
    TaskMismatch,
)
from gateway.fetch import fetch_bytes
from gateway.images import decode, decode_base64, sniff_format
from gateway.model import Model
from gateway.params import InferenceParams
from gateway.registry import ModelRegistry

STATUS: list[tuple[type[GatewayError], int]] = [
    (ModelNotFound, 404),
    (InvalidImage, 400),
    (InvalidParameter, 400),
    (TaskMismatch, 400),
    (RequestError, 400),
]


def error_response(exc: GatewayError) -> Response:
    """One place mapping the exception tree to Roboflow's `{"message": ...}` errors."""
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 500)
    return json_response({"message": str(exc)}, status)


def json_response(body: object, status: int = 200) -> Response:
    import orjson

    return Response(orjson.dumps(body), status, media_type="application/json")


async def read_image_bytes(request: Request) -> bytes:
    url = request.query_params.get("image")
    if url:
        return await fetch_bytes(url)
    body = await request.body()
    if not body.strip():
        raise InvalidImage("Could not load input image. Cause: the request has no image")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidImage("Could not load input image. Cause: no multipart part named 'file'")
        return await upload.read()
    return body if sniff_format(body) else decode_base64(body)


def params_for(request: Request, model: Model) -> InferenceParams:
    query = request.query_params
    classes = query.get("classes")
    return InferenceParams(
        confidence=percent_or_fraction("confidence", query.get("confidence"), 0.4),
        iou=percent_or_fraction("overlap", query.get("overlap"), 0.3),
        classes=frozenset(c.strip() for c in classes.split(",") if c.strip()) if classes else None,
    )


async def infer(request: Request) -> Response:
    registry: ModelRegistry = request.app.state.registry
    model_id = f"{request.path_params['project']}/{request.path_params['version']}"
    try:
        model = registry.get(model_id)
        params = params_for(request, model)
        data = await read_image_bytes(request)
        started = time.perf_counter()
        image = await anyio.to_thread.run_sync(decode, data)
        decoded = time.perf_counter() - started
        (prediction,) = await anyio.to_thread.run_sync(model.predict, [image], params, [decoded])
    except GatewayError as exc:
        return error_response(exc)
    return json_response(render_json(prediction))


def routes() -> list[Route]:
    return [Route("/{project}/{version}", infer, methods=["POST", "GET"])]
