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


def assert_predictions_match_truth(predictions: list[dict[str, Any]]) -> None:
    """One prediction per true object, each on a true object of its class (IoU > 0.8)."""
    assert len(predictions) == len(TRUTH["objects"])
    for p in predictions:
        x1, y1 = p["x"] - p["width"] / 2, p["y"] - p["height"] / 2
        box = [x1, y1, x1 + p["width"], y1 + p["height"]]
        same_class = [o["box"] for o in TRUTH["objects"] if o["class"] == p["class"]]
        assert best_iou(box, same_class) > 0.8, p


def assert_matches_truth(body: dict[str, Any]) -> None:
    """A hosted-route response for the example: its size and its predictions."""
    assert body["image"] == {"width": TRUTH["width"], "height": TRUTH["height"]}
    assert_predictions_match_truth(body["predictions"])
