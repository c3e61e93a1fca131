"""Roboflow Inference server's HTTP API (v1), as inference-sdk's InferenceHTTPClient calls it.

    GET  /model/registry          {"models": [{model_id, task_type, batch_size, input_*}]}
    POST /model/add               {"model_id", "api_key"} -> the registry (models load at start)
    POST /infer/{task}            task: object_detection, instance_segmentation,
                                  classification, semantic_segmentation
        JSON {"model_id", "api_key", "image": {"type": "base64"|"url", "value"} or a list,
              "confidence" (0-1), "iou_threshold", "class_agnostic_nms", "class_filter",
              "max_detections"} -> the hosted routes' JSON, or a list of them for a list
A list of images is predicted in one session run. Only base64 and URL images are read;
`numpy`/`pil` payloads (pickles) are refused. Errors are `{"message": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dialects.http import (
    bearer_or_query_key,
    endpoint,
    error_body,
    json_response,
    read_body,
)
from gateway.dialects.roboflow.names import TASK_TYPES
from gateway.dialects.roboflow.render import render_json
from gateway.errors import InvalidImage, InvalidParameter, TaskMismatch
from gateway.images import decode_any
from gateway.params import InferenceParams
from gateway.results import Task
from gateway.state import GatewayState

INFER_TASKS = {
    "object_detection": Task.DETECT,
    "instance_segmentation": Task.INSTANCE,
    "classification": Task.CLASSIFY,
    "semantic_segmentation": Task.SEMANTIC,
}
MAX_IMAGES = 32
ERRORS = error_body("message")  # inference-sdk reads `message` (or `detail`)


def registry_body(state: GatewayState) -> dict[str, Any]:
    models = []
    for model in state.registry:
        if model.task not in TASK_TYPES:
            continue
        pre = model.spec.preprocessing
        models.append(
            {
                "model_id": model.id,
                "task_type": TASK_TYPES[model.task],
                "batch_size": "batch" if model.spec.dynamic_batch else 1,
                "input_height": pre.height,
                "input_width": pre.width,
            }
        )
    return {"models": models}


def body_key(body: Mapping[str, Any], request: Request) -> str | None:
    """The key from the JSON body (where inference-sdk puts it), else ?api_key= or Bearer."""
    key = body.get("api_key")
    if key is not None and not isinstance(key, str):
        raise InvalidParameter("api_key must be a string")
    return key or bearer_or_query_key(request)


async def json_body(
    request: Request, state: GatewayState, limit: int | None = None
) -> Mapping[str, Any]:
    try:
        body = orjson.loads(await read_body(request, state.settings, limit))
    except orjson.JSONDecodeError:
        raise InvalidParameter("the request body must be a JSON object") from None
    if not isinstance(body, Mapping):
        raise InvalidParameter("the request body must be a JSON object")
    return body


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidParameter(f"{name} must be a number between {low} and {high}")
    return float(value)


def params_from(body: Mapping[str, Any]) -> InferenceParams:
    classes = body.get("class_filter")
    if classes is not None and (
        not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
    ):
        raise InvalidParameter("class_filter must be a list of class names")
    max_det = _number(body, "max_detections", 1, 10_000)
    return InferenceParams(
        confidence=_number(body, "confidence", 0.0, 1.0),
        iou=_number(body, "iou_threshold", 0.0, 1.0),
        classes=frozenset(classes) if classes else None,
        max_detections=int(max_det) if max_det is not None else None,
        class_agnostic=bool(body.get("class_agnostic_nms", False)),
    )


async def image_data(item: Any, state: GatewayState) -> bytes:
    """Base64 text or fetched bytes; decoded later, off the event loop."""
    if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
        raise InvalidImage('each image must be {"type": "base64"|"url", "value": ...}')
    kind = item.get("type", "base64")
    if kind == "base64":
        return str(item["value"]).encode("ascii", "replace")
    if kind == "url":
        return await state.fetcher.fetch(item["value"])
    raise InvalidImage(f"image type {str(kind)[:20]!r} is not accepted (use base64 or url)")


async def model_registry(request: Request, state: GatewayState) -> Response:
    return json_response(registry_body(state))


async def model_add(request: Request, state: GatewayState) -> Response:
    body = await json_body(request, state, 64 * 1024)
    model_id = str(body.get("model_id", ""))
    await state.access.authorize(body_key(body, request), model_id)
    state.registry.get(model_id)
    return json_response(registry_body(state))


async def infer(request: Request, state: GatewayState) -> Response:
    task = INFER_TASKS.get(request.path_params["task"])
    if task is None:
        raise InvalidParameter(f"unknown task; use one of {', '.join(INFER_TASKS)}")
    presented = bearer_or_query_key(request)
    if presented:  # a key outside the body is checked before the body is read
        await state.access.identify(presented)
    body = await json_body(request, state)
    model_id = str(body.get("model_id", ""))
    await state.access.authorize(body_key(body, request), model_id)
    model = state.registry.get(model_id)
    if model.task is not task:
        raise TaskMismatch(
            f"model '{model_id}' does {TASK_TYPES.get(model.task, model.task.value)}, "
            f"not {TASK_TYPES[task]}"
        )
    params = params_from(body)
    model.validate(params)
    images = body.get("image")
    if images is None:
        raise InvalidImage("the request has no 'image'")
    many = isinstance(images, list)
    items = images if many else [images]
    if not items or len(items) > MAX_IMAGES:
        raise InvalidImage(f"send between 1 and {MAX_IMAGES} images")
    datas = [await image_data(item, state) for item in items]
    async with state.admission.slot(model.id):
        loads = [partial(decode_any, data, state.image_limits) for data in datas]
        pairs = await state.pipeline.predict_many(model, loads, params)
    rendered = [render_json(prediction) for _, prediction in pairs]
    return json_response(rendered if many else rendered[0])


def routes() -> list[Route]:
    return [
        Route("/model/registry", endpoint(model_registry, ERRORS), methods=["GET"]),
        Route("/model/add", endpoint(model_add, ERRORS), methods=["POST"]),
        Route("/infer/{task}", endpoint(infer, ERRORS), methods=["POST"]),
    ]
