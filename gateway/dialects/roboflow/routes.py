"""Roboflow's hosted routes: detect / outline / segment / classify and the bare form,
plus the account API the roboflow SDK bootstraps from (bootstrap.py).

    POST|GET /{family}/{project}/{version}   family: detect, outline, segment, classify
    POST|GET /{project}/{version}            family from the Host's first label
                                             (detect.example.com), else the model's task
    POST /, GET /{ws}, GET /{ws}/{project}, GET /{ws}/{project}/{version}   SDK bootstrap

The image is `?image=<url>` (the body is then ignored), a multipart part `file`, raw
image bytes, or base64 text under any other Content-Type (COMPAT.md section 1).
"""

from __future__ import annotations

import base64
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dialects.http import (
    Handler,
    bearer_or_query_key,
    endpoint,
    error_body,
    json_response,
    parse_form,
    read_body,
)
from gateway.dialects.roboflow import bootstrap
from gateway.dialects.roboflow.names import FAMILIES, FAMILY_OF_TASK
from gateway.dialects.roboflow.params import RoboflowQuery, parse_query
from gateway.dialects.roboflow.render import render_json
from gateway.errors import InvalidImage, TaskMismatch
from gateway.images import decode_any
from gateway.render import annotate, encode
from gateway.state import GatewayState

error_response = error_body("message")  # Roboflow's error shape


def family_of(request: Request) -> str | None:
    """The route family from the path, else from the Host header's first label."""
    family = request.scope.get("route_family")
    if family:
        return str(family)
    label = request.headers.get("host", "").split(".", 1)[0].split(":", 1)[0].lower()
    return label if label in FAMILIES and "." in request.headers.get("host", "") else None


async def image_bytes(request: Request, query: RoboflowQuery, state: GatewayState) -> bytes:
    """The image as sent: raw bytes or base64 text (decoded later, off the event loop)."""
    if query.image_url:
        return await state.fetcher.fetch(query.image_url)
    body = await read_body(request, state.settings)
    if not body.strip():
        raise InvalidImage("Could not load input image. Cause: the request has no image")
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await parse_form(request, body, state.settings)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidImage("Could not load input image. Cause: no multipart part named 'file'")
        return await upload.read()
    return body


async def infer(request: Request, state: GatewayState) -> Response:
    model_id = f"{request.path_params['project']}/{request.path_params['version']}"
    await state.access.authorize(bearer_or_query_key(request), model_id)
    model = state.registry.get(model_id)
    if model.task not in FAMILY_OF_TASK:
        raise TaskMismatch(
            f"model '{model_id}' does {model.task.value}, which no Roboflow route serves"
        )
    family = family_of(request)
    if family is not None and FAMILIES[family] is not model.task:
        raise TaskMismatch(
            f"model '{model_id}' does {model.task.value}: call "
            f"/{FAMILY_OF_TASK[model.task]}/{model_id}, not /{family}/{model_id}"
        )
    query = parse_query(request.query_params)
    model.validate(query.params)
    data = await image_bytes(request, query, state)
    async with state.admission.slot(model.id):
        image, prediction = await state.pipeline.predict(
            model, partial(decode_any, data, state.image_limits), query.params
        )
    if query.format == "json":
        return json_response(render_json(prediction))
    jpeg = await state.pipeline.cpu(
        lambda: encode(annotate(image, prediction.result, query.stroke, query.labels))
    )
    if query.format == "image":
        return Response(jpeg, media_type="image/jpeg")
    body = render_json(prediction)
    body["visualization"] = base64.b64encode(jpeg).decode("ascii")
    return json_response(body)


async def two_segments(request: Request, state: GatewayState) -> Response:
    """`GET /{workspace}/{project}` is the SDK's project lookup; anything else is inference."""
    first = request.path_params["project"]
    if request.method == "GET" and first == state.workspace and "image" not in request.query_params:
        return await bootstrap.project(request, state, request.path_params["version"])
    return await infer(request, state)


def in_family(family: str) -> Handler:
    """Inference on a family route: the path names the family."""

    async def handler(request: Request, state: GatewayState) -> Response:
        request.scope["route_family"] = family
        return await infer(request, state)

    return handler


def routes() -> list[Route]:
    """Mounted after every other dialect: the bare two-segment route matches any such path."""
    both = ["POST", "GET"]
    return [
        Route("/", endpoint(bootstrap.check_key, error_response), methods=["POST"]),
        *(
            Route(
                f"/{family}/{{project}}/{{version}}",
                endpoint(in_family(family), error_response),
                methods=both,
            )
            for family in FAMILIES
        ),
        Route(
            "/{workspace}/{project}/{version}",
            endpoint(bootstrap.version, error_response),
            methods=["GET"],
        ),
        Route("/{project}/{version}", endpoint(two_segments, error_response), methods=both),
        Route("/{workspace}", endpoint(bootstrap.workspace, error_response), methods=["GET"]),
    ]
