"""v0.7 inference requests (JSON or the client's multipart) and their results."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile

from gateway.errors import InvalidImage, InvalidParameter
from gateway.results import Classification, Detections, Result
from gateway.spec import ModelSpec

DEFAULT_MAX_PREDICTIONS = 100
MAX_PREDICTIONS = 10_000  # as max_detections elsewhere; the graph takes an int64
DISCARD_THRESHOLD = 0.025  # candidates above it and below their label's threshold: discarded
FIELD = re.compile(
    r"inputs\[(?P<i>\d+)\]image\.(?:(?P<source>source)|bbox\.(?P<corner>xmin|ymin|xmax|ymax)"
    r"|polygon\[(?P<p>\d+)\](?P<axis>[xy])|(?P<uniform>crop_uniform_background))$"
)


@dataclass(frozen=True)
class ImageRequest:
    """One inference input: a URL, data-URI text, or file bytes, and the region to use."""

    url: str | None = None
    data: bytes | None = None
    bbox: tuple[float, float, float, float] | None = None
    polygon: tuple[tuple[float, float], ...] | None = None
    uniform_background: bool = False


@dataclass(frozen=True)
class InferenceRequest:
    image: ImageRequest
    show_discarded: bool = False
    max_predictions: int = DEFAULT_MAX_PREDICTIONS


def lenient_bool(value: Any) -> bool:
    """`True`/`False` (how the client writes multipart fields), true/false, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise InvalidParameter(f"expected a boolean, got {str(value)[:20]!r}")


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be a number") from None


def _max_predictions(value: Any) -> int:
    """A positive integer; above MAX_PREDICTIONS (a model's most detections) it is that."""
    if value is None or value == "":
        return DEFAULT_MAX_PREDICTIONS
    number = _number(value, "max_predictions")
    if not math.isfinite(number) or number < 1 or number != int(number):
        raise InvalidParameter("max_predictions must be a positive integer")
    return min(int(number), MAX_PREDICTIONS)


def _source(value: Any) -> ImageRequest:
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return ImageRequest(url=value)
    if isinstance(value, str) and value.startswith("data:"):
        return ImageRequest(data=value.encode())
    raise InvalidImage("image.source must be an http(s) URL or a data:image/*;base64, URI")


def _image(raw: Mapping[str, Any], source: ImageRequest) -> ImageRequest:
    bbox = raw.get("bbox")
    polygon = raw.get("polygon")
    if bbox is not None and not isinstance(bbox, Mapping):
        raise InvalidParameter("image.bbox must be {xmin, ymin, xmax, ymax}")
    if polygon is not None and not isinstance(polygon, list):
        raise InvalidParameter("image.polygon must be a list of {x, y}")
    corners = None
    if bbox is not None:
        corners = tuple(_number(bbox.get(k), f"bbox.{k}") for k in ("xmin", "ymin", "xmax", "ymax"))
    points = None
    if polygon is not None:
        points = tuple(
            (_number(p.get("x"), "polygon.x"), _number(p.get("y"), "polygon.y"))
            for p in polygon
            if isinstance(p, Mapping)
        )
    if corners is not None:
        xmin, ymin, xmax, ymax = corners
        if not (0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1):
            raise InvalidParameter("bbox needs 0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1")
    if points is not None and (
        len(points) < 3 or not all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points)
    ):
        raise InvalidParameter("polygon needs at least 3 points with 0 <= x, y <= 1")
    return ImageRequest(
        source.url,
        source.data,
        corners,  # type: ignore[arg-type]
        points,
        lenient_bool(raw.get("crop_uniform_background", False)),
    )


def _one_input(inputs: Any) -> Mapping[str, Any]:
    if not isinstance(inputs, list) or not inputs:
        raise InvalidParameter("inputs must be a non-empty list")
    if len(inputs) > 1:
        raise InvalidParameter("one input per inference request is supported")
    item = inputs[0]
    if not isinstance(item, Mapping) or not isinstance(item.get("image"), Mapping):
        raise InvalidParameter('each input must be {"image": {"source": ...}}')
    return item["image"]  # type: ignore[no-any-return]


def from_json(body: Any) -> InferenceRequest:
    if not isinstance(body, Mapping):
        raise InvalidParameter("the body must be a JSON object with 'inputs'")
    image = _one_input(body.get("inputs"))
    return InferenceRequest(
        _image(image, _source(image.get("source"))),
        lenient_bool(body.get("show_discarded", False)),
        _max_predictions(body.get("max_predictions")),
    )


async def from_multipart(form: FormData) -> InferenceRequest:
    """The client's multipart: `inputs[0]image.source` as a file or text, flattened fields."""
    images: dict[int, dict[str, Any]] = {}
    for key, value in form.multi_items():
        match = FIELD.match(key)
        if match is None:
            continue
        image = images.setdefault(int(match["i"]), {})
        if match["source"]:
            image["source"] = value
        elif match["corner"]:
            image.setdefault("bbox", {})[match["corner"]] = value
        elif match["axis"]:
            polygon = image.setdefault("polygon_points", {})
            polygon.setdefault(int(match["p"]), {})[match["axis"]] = value
        else:
            image["crop_uniform_background"] = value
    raw = dict(_one_input([{"image": images[k]} for k in sorted(images)]))
    if "polygon_points" in raw:
        raw["polygon"] = [raw["polygon_points"][k] for k in sorted(raw.pop("polygon_points"))]
    source_value = raw.get("source")
    if isinstance(source_value, UploadFile):
        source = ImageRequest(data=await source_value.read())
    else:
        source = _source(source_value)
    return InferenceRequest(
        _image(raw, source),
        lenient_bool(form.get("show_discarded", False)),
        _max_predictions(form.get("max_predictions")),
    )


def _item(spec: ModelSpec, class_id: int, score: float) -> dict[str, Any]:
    name = spec.class_names[class_id]
    return {
        "label_id": class_id,
        "label_name": name,
        "score": round(score, 6),
        "threshold": spec.threshold(name),
    }


def render_labels(
    result: Result,
    spec: ModelSpec,
    request: InferenceRequest,
    size: tuple[int, int],
    offset: tuple[int, int],
) -> dict[str, Any]:
    """`{"outputs": [{"labels": {"predicted": [...], "discarded": [...]}}]}`, best first.

    Boxes are normalised to the original image (size = width, height), the region's
    offset added back; `max_predictions` caps both lists together.
    """
    width, height = size
    items: list[dict[str, Any]] = []
    if isinstance(result, Detections):
        for i, (x1, y1, x2, y2) in enumerate(result.xyxy.tolist()):
            item = _item(spec, int(result.class_id[i]), float(result.confidence[i]))
            item["roi"] = {
                "region_id": i + 1,
                "bbox": {
                    "xmin": (x1 + offset[0]) / width,
                    "ymin": (y1 + offset[1]) / height,
                    "xmax": (x2 + offset[0]) / width,
                    "ymax": (y2 + offset[1]) / height,
                },
            }
            items.append(item)
    elif isinstance(result, Classification):
        items = [
            _item(spec, class_id, score)
            for class_id, score in result.ranked()
            if score >= DISCARD_THRESHOLD
        ]
    items.sort(key=lambda item: -item["score"])
    items = items[: request.max_predictions]
    predicted = [item for item in items if item["score"] >= item["threshold"]]
    discarded = [item for item in items if item["score"] < item["threshold"]]
    labels = {"predicted": predicted, "discarded": discarded if request.show_discarded else []}
    return {"outputs": [{"labels": labels}]}
