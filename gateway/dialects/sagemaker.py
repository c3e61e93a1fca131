"""SageMaker real-time inference container (seed 000): `/ping` and `/invocations`.

    GET  /ping                               200 once the models are loaded
    POST /invocations                        raw image/jpeg or image/png, at most 6 MB
    POST /endpoints/{name}/invocations       the same (boto3 with endpoint_url= sends this)

The model is the setting GATEWAY_SAGEMAKER_MODEL (default: the first instance
segmentation model), or the one named by X-Amzn-SageMaker-Target-Model. The response
is chosen by Accept (application/json, image/jpeg, image/png); a missing Accept or
`*/*` defers to the X-Amzn-SageMaker-Custom-Attributes JSON `response_type` (json,
jpeg, png); the default is JSON:
    {"labels": ["horse 100%", ...], "boxes": [[x1, y1, x2, y2], ...]}   best first
Images are the input with each instance's mask, box and label drawn in its own colour.
The custom attributes may also carry `threshold` (0-1); unknown keys are ignored.
There is no API key here: SageMaker authenticates callers before they reach the container.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dialects.http import endpoint, error_body, json_response, read_body
from gateway.errors import (
    InvalidParameter,
    NotAcceptable,
    TaskMismatch,
    UnsupportedMediaType,
)
from gateway.images import decode
from gateway.model import Model
from gateway.params import InferenceParams
from gateway.render import annotate, encode
from gateway.results import Detections, Task
from gateway.state import GatewayState

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's real-time payload limit
MAX_ATTRIBUTES = 1024
CONTENT_TYPES = ("image/jpeg", "image/png")
MEDIA_TYPES = {"json": "application/json", "jpeg": "image/jpeg", "png": "image/png"}
RESPONSE_OF_MEDIA = {media: name for name, media in MEDIA_TYPES.items()}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png"}
TARGET_MODEL = "x-amzn-sagemaker-target-model"
CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
ERRORS = error_body("message")


def custom_attributes(header: str | None) -> Mapping[str, Any]:
    if not header:
        return {}
    if len(header) > MAX_ATTRIBUTES:
        raise InvalidParameter(f"X-Amzn-SageMaker-Custom-Attributes is over {MAX_ATTRIBUTES} chars")
    try:
        attributes = orjson.loads(header)
    except orjson.JSONDecodeError:
        raise InvalidParameter(
            "X-Amzn-SageMaker-Custom-Attributes must be a JSON object, "
            'e.g. {"response_type": "json"}'
        ) from None
    if not isinstance(attributes, Mapping):
        raise InvalidParameter("X-Amzn-SageMaker-Custom-Attributes must be a JSON object")
    return attributes


def response_type(accept: str | None, attributes: Mapping[str, Any]) -> str:
    """json, jpeg or png: Accept first, then the custom attributes, then json."""
    media = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    media = [m for m in media if m]
    for item in media:
        if item in RESPONSE_OF_MEDIA:
            return RESPONSE_OF_MEDIA[item]
    if media and "*/*" not in media:
        raise NotAcceptable(f"Accept must allow one of {', '.join(MEDIA_TYPES.values())}")
    chosen = attributes.get("response_type", "json")
    if chosen not in MEDIA_TYPES:
        raise InvalidParameter("custom attribute response_type must be json, jpeg or png")
    return str(chosen)


def threshold(attributes: Mapping[str, Any], default: float) -> float:
    value = attributes.get("threshold", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidParameter("custom attribute threshold must be a number between 0 and 1")
    return float(value)


def render_json(result: Detections) -> dict[str, Any]:
    """The seed's shape: labels "class NN%" and xyxy boxes in original pixels, best first."""
    return {
        "labels": [
            f"{name} {100 * score:.0f}%"
            for name, score in zip(result.names(), result.confidence.tolist(), strict=True)
        ],
        "boxes": [[float(v) for v in box] for box in result.xyxy.tolist()],
    }


def serving_model(request: Request, state: GatewayState) -> Model:
    chosen = request.headers.get(TARGET_MODEL) or state.settings.sagemaker_model
    if chosen:
        model = state.registry.get(chosen)
    else:
        models = list(state.registry)
        model = next((m for m in models if m.task is Task.INSTANCE), models[0])
    if model.task not in (Task.INSTANCE, Task.DETECT):
        raise TaskMismatch(
            f"model '{model.id}' does {model.task.value}; /invocations needs instances"
        )
    return model


async def invocations(request: Request, state: GatewayState) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be image/jpeg or image/png, got {content_type[:60] or 'none'!r}"
        )
    attributes = custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES))
    kind = response_type(request.headers.get("accept"), attributes)
    params = InferenceParams(confidence=threshold(attributes, state.settings.sagemaker_threshold))
    model = serving_model(request, state)
    body = await read_body(request, state.settings, MAX_PAYLOAD)
    async with state.admission.slot(model.id):
        image, prediction = await state.pipeline.predict(
            model, partial(decode, body, state.image_limits), params
        )
    result = prediction.result
    if not isinstance(result, Detections):  # serving_model admits detection tasks only
        raise TaskMismatch(f"model '{model.id}' returned no instances")
    if kind == "json":
        return json_response(render_json(result))
    rendered = await state.pipeline.cpu(
        lambda: encode(annotate(image, result, 2, True, by_instance=True), EXTENSIONS[kind])
    )
    return Response(rendered, media_type=MEDIA_TYPES[kind])


async def ping(request: Request) -> Response:
    if getattr(request.app.state, "gateway", None) is None:
        return Response(status_code=503, headers={"Retry-After": "1"})
    return Response(status_code=200)


def routes() -> list[Route]:
    return [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", endpoint(invocations, ERRORS), methods=["POST"]),
        Route("/endpoints/{name}/invocations", endpoint(invocations, ERRORS), methods=["POST"]),
    ]
