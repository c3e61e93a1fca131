"""The bundled example image with its ground truth, and checks against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "models" / "examples"
EXAMPLE = EXAMPLES / "scene-1.jpg"
TRUTH = json.loads((EXAMPLES / "scene-1.json").read_text())


def best_iou(box: list[float], truths: list[list[float]]) -> float:
    x1, y1, x2, y2 = box
    best = 0.0
    for tx1, ty1, tx2, ty2 in truths:
        iw = max(0.0, min(x2, tx2) - max(x1, tx1))
        ih = max(0.0, min(y2, ty2) - max(y1, ty1))
        inter = iw * ih
        union = (x2 - x1) * (y2 - y1) + (tx2 - tx1) * (ty2 - ty1) - inter
        best = max(best, inter / union if union else 0.0)
    return best


def _box(p: dict[str, Any]) -> list[float]:
    x1, y1 = p["x"] - p["width"] / 2, p["y"] - p["height"] / 2
    return [x1, y1, x1 + p["width"], y1 + p["height"]]


def assert_predictions_match_truth(predictions: list[dict[str, Any]]) -> None:
    """Every true object is found with its class (IoU > 0.8), in original pixels, and
    every prediction lies on some true object (IoU > 0.5)."""
    boxes = [_box(p) for p in predictions]
    for truth in TRUTH["objects"]:
        same_class = [
            b for b, p in zip(boxes, predictions, strict=True) if p["class"] == truth["class"]
        ]
        assert best_iou(truth["box"], same_class) > 0.8, truth
    every_truth = [o["box"] for o in TRUTH["objects"]]
    for box, p in zip(boxes, predictions, strict=True):
        assert best_iou(box, every_truth) > 0.5, p


def assert_matches_truth(body: dict[str, Any]) -> None:
    """A hosted-route response for the example: its size and its predictions."""
    assert body["image"] == {"width": TRUTH["width"], "height": TRUTH["height"]}
    assert_predictions_match_truth(body["predictions"])
