"""Foreground matting (seed 003): POST /human_image_segmentation (also /human-segmentation).

    JSON {"url": "http(s)://... | s3://bucket/key"} or {"img": "<base64>"}, exactly one;
    optional "type": "" (default) -> {"result": base64 PNG, 8-bit alpha matte}
                     "foreground" -> {"result": base64 PNG, the image as RGBA}
Images are jpg/jpeg/png/bmp with the longest side at most 4096 px. Errors are
{"error": ...}. A gateway key is required unless GATEWAY_MATTING_AUTH=none.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import partial
from typing import Any

import anyio
import numpy as np
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
from gateway.errors import (
    InvalidImage,
    InvalidParameter,
    ModelNotFound,
    TaskMismatch,
    UnsupportedMediaType,
)
from gateway.images import Image, ImageLimits, decode, decode_base64, header_size, sniff_format
from gateway.model import Model
from gateway.params import InferenceParams
from gateway.render import encode
from gateway.results import Matte, Task
from gateway.s3 import read_object
from gateway.state import GatewayState

ACCEPTED_FORMATS = ("jpeg", "png", "bmp")
MAX_SIDE = 4096
TYPES = ("", "foreground")


def matting_model(state: GatewayState) -> Model:
    if state.settings.matting_model:
        model = state.registry.get(state.settings.matting_model)
        if model.task is not Task.MATTING:
            raise TaskMismatch(f"model '{model.id}' is not a matting model")
        return model
    for model in state.registry:
        if model.task is Task.MATTING:
            return model
    raise ModelNotFound("no matting model is configured")


def parse(body: Any) -> tuple[str | None, str | None, str]:
    """(url, img, type) from the JSON body; exactly one of url and img."""
    if not isinstance(body, Mapping):
        raise InvalidParameter("the body must be a JSON object with 'url' or 'img'")
    url, img = body.get("url") or None, body.get("img") or None
    if (url is None) == (img is None):
        raise InvalidParameter("give exactly one of 'url' and 'img'")
    if not isinstance(url or img, str):
        raise InvalidParameter("'url' and 'img' must be strings")
    kind = body.get("type") or ""
    if kind not in TYPES:
        raise InvalidParameter(f"type must be empty or 'foreground', got {str(kind)[:40]!r}")
    return url, img, kind


async def image_data(url: str | None, img: str | None, state: GatewayState) -> bytes:
    if img is not None:
        text = img.encode("ascii", "replace")
        return await state.pipeline.cpu(decode_base64, text, state.image_limits)
    if url is None:
        raise InvalidParameter("give exactly one of 'url' and 'img'")
    if url.lower().startswith("s3://"):
        endpoint = state.settings.s3_endpoint_url
        limit = state.image_limits.max_bytes
        return await anyio.to_thread.run_sync(read_object, url, limit, endpoint)
    if url.lower().startswith(("http://", "https://")):
        return await state.fetcher.fetch(url)
    raise InvalidParameter("url must be http(s):// or s3://bucket/key")


def checked_decode(data: bytes, limits: ImageLimits) -> Image:
    """The route's formats and longest side (from the header, before decoding) only."""
    kind = sniff_format(data)
    if kind not in ACCEPTED_FORMATS:
        raise InvalidImage("the image must be jpg, jpeg, png or bmp")
    longest = max(header_size(data, kind))
    if longest > MAX_SIDE:
        raise InvalidImage(f"the image's longest side is {longest} px; at most {MAX_SIDE} px")
    return decode(data, limits)


def render(image: Image, matte: Matte, kind: str) -> str:
    if kind == "foreground":
        rgba = np.dstack([image, matte.alpha])  # BGRA, as cv2 writes RGBA PNGs
        png = encode(rgba, ".png")
    else:
        png = encode(matte.alpha, ".png")
    return base64.b64encode(png).decode("ascii")


async def segment(request: Request, state: GatewayState) -> Response:
    model = matting_model(state)
    if state.settings.matting_auth == "key":
        key = request.headers.get("x-api-key") or bearer_or_query_key(request)
        await state.access.authorize(key, model.id)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send a JSON body (Content-Type: application/json)")
    try:
        body = orjson.loads(await read_body(request, state.settings))
    except orjson.JSONDecodeError:
        raise InvalidParameter("the body is not valid JSON") from None
    url, img, kind = parse(body)
    data = await image_data(url, img, state)
    async with state.admission.slot(model.id):
        image, prediction = await state.pipeline.predict(
            model, partial(checked_decode, data, state.image_limits), InferenceParams()
        )
    matte = prediction.result
    if not isinstance(matte, Matte):
        raise TaskMismatch(f"model '{model.id}' returned no matte")
    result = await state.pipeline.cpu(render, image, matte, kind)
    return json_response({"result": result})


def routes() -> list[Route]:
    return [
        Route(path, endpoint(segment, error_body("error")), methods=["POST"])
        for path in ("/human_image_segmentation", "/human-segmentation")
    ]
