"""The background half of v0.7 inference: a task's payload, and the work that runs it.

The payload holds everything the work needs, so that any replica can run the task: a
JSON head (model id, image URL or region, options) and, after a newline, the image
bytes when the request carried them.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.dialects.deepomatic.inference import (
    DISCARD_THRESHOLD,
    ImageRequest,
    InferenceRequest,
    render_labels,
)
from gateway.errors import ModelNotFound
from gateway.images import decode_any
from gateway.model import Model
from gateway.params import InferenceParams
from gateway.regions import crop_region
from gateway.results import Task
from gateway.state import GatewayState

KIND = "deepomatic.inference"


def encode(model_id: str, request: InferenceRequest) -> bytes:
    image = request.image
    head = {
        "model": model_id,
        "url": image.url,
        "bbox": image.bbox,
        "polygon": image.polygon,
        "uniform_background": image.uniform_background,
        "show_discarded": request.show_discarded,
        "max_predictions": request.max_predictions,
    }
    return orjson.dumps(head) + b"\n" + (image.data or b"")


def decode(payload: bytes) -> tuple[str, InferenceRequest]:
    raw_head, _, data = payload.partition(b"\n")
    head = orjson.loads(raw_head)
    bbox = head["bbox"]
    polygon = head["polygon"]
    image = ImageRequest(
        url=head["url"],
        data=data if head["url"] is None else None,
        bbox=tuple(bbox) if bbox is not None else None,
        polygon=tuple((x, y) for x, y in polygon) if polygon is not None else None,
        uniform_background=head["uniform_background"],
    )
    request = InferenceRequest(image, head["show_discarded"], head["max_predictions"])
    return head["model"], request


async def run_inference(model: Model, request: InferenceRequest, state: GatewayState) -> Any:
    """The background work of one task: fetch, decode, crop, predict, render."""
    image_request = request.image
    if image_request.url is not None:
        data = await state.fetcher.fetch(image_request.url)
    else:
        data = image_request.data or b""
    confidence = DISCARD_THRESHOLD if model.task is not Task.CLASSIFY else None
    params = InferenceParams(confidence=confidence, max_detections=request.max_predictions)
    async with state.admission.slot(model.id):
        image = await state.pipeline.cpu(decode_any, data, state.image_limits)
        region, offset = await state.pipeline.cpu(
            crop_region,
            image,
            image_request.bbox,
            image_request.polygon,
            image_request.uniform_background,
        )
        _, prediction = await state.pipeline.predict(model, lambda: region, params)
    size = (int(image.shape[1]), int(image.shape[0]))
    return render_labels(prediction.result, model.spec, request, size, offset)


async def run_task(state: GatewayState, payload: bytes) -> Any:
    """Run a queued task, whichever replica queued it."""
    model_id, request = decode(payload)
    try:
        model = state.registry.get(model_id)
    except ModelNotFound:
        raise ModelNotFound(f"model {model_id} is not served by this gateway any more") from None
    return await run_inference(model, request, state)
