"""Neutral predictions -> Roboflow's JSON response shapes (COMPAT.md section 1)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import cv2

from gateway.errors import GatewayError, TaskMismatch
from gateway.results import Classification, Detections, Prediction, SemanticMask


def _coord(value: float) -> float:
    return round(float(value), 1)


def _detections(result: Detections) -> list[dict[str, Any]]:
    predictions = []
    names = result.names()
    for i, (x1, y1, x2, y2) in enumerate(result.xyxy.tolist()):
        item: dict[str, Any] = {
            "x": _coord((x1 + x2) / 2),
            "y": _coord((y1 + y2) / 2),
            "width": _coord(x2 - x1),
            "height": _coord(y2 - y1),
            "confidence": round(float(result.confidence[i]), 4),
            "class": names[i],
            "class_id": int(result.class_id[i]),
            "detection_id": str(uuid.uuid4()),
        }
        if result.polygons is not None:
            item["points"] = [{"x": _coord(x), "y": _coord(y)} for x, y in result.polygons[i]]
        predictions.append(item)
    return predictions


def _classification(result: Classification) -> dict[str, Any]:
    ranked = result.ranked()
    if result.multi_label:
        return {
            "predictions": {
                result.class_names[i]: {"confidence": round(c, 4), "class_id": i} for i, c in ranked
            },
            "predicted_classes": [result.class_names[i] for i, c in ranked if c >= 0.5],
        }
    top_id, top_confidence = ranked[0]
    return {
        "predictions": [
            {"class": result.class_names[i], "class_id": i, "confidence": round(c, 4)}
            for i, c in ranked
        ],
        "top": result.class_names[top_id],
        "confidence": round(top_confidence, 4),
    }


def png_base64(class_map: Any) -> str:
    ok, encoded = cv2.imencode(".png", class_map)
    if not ok:
        raise GatewayError("PNG encoding of the class map failed")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def render_json(prediction: Prediction) -> dict[str, Any]:
    """The response body for one prediction, as the hosted routes shape it."""
    body: dict[str, Any] = {
        "inference_id": str(uuid.uuid4()),
        "time": round(prediction.timings.total, 4),
        "image": {"width": prediction.width, "height": prediction.height},
    }
    result = prediction.result
    if isinstance(result, Detections):
        body["predictions"] = _detections(result)
    elif isinstance(result, SemanticMask):
        body["segmentation_mask"] = png_base64(result.class_map)
        body["class_map"] = {str(i): name for i, name in enumerate(result.class_names)}
    elif isinstance(result, Classification):
        body.update(_classification(result))
    else:
        raise TaskMismatch(f"model '{prediction.model_id}' has no Roboflow response shape")
    return body
