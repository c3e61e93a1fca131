"""Accuracy of the bundled models on a held-out generated set, through the gateway's engine.

    python benchmarks/accuracy.py [--scenes 200] [--crops 400] [--config configs/models.yaml]
    python benchmarks/accuracy.py --url http://127.0.0.1:9001 [--api-key local-demo-key]

Regenerates held-out scenes from `models.training.scenes.HELDOUT_SEED` (training uses
TRAIN_SEED), runs every bundled model over them with the same code that serves requests
(preprocess, graph heads, polygons, class maps) or, with --url, through a running
gateway's Roboflow routes (PNG-encoded images, JSON parsed back), and prints one JSON
line:
    detection_map50       mAP@0.5, VOC all-point interpolation, mean over classes
    instance_mask_iou     mean over ground-truth instances of the IoU between the
                          rasterised returned polygon and the true mask (0 if missed)
    semantic_miou         mean over classes (background included) of the pixel IoU
    classification_top1   top-1 accuracy on held-out crops
    matting_iou           mean over scenes of the IoU of the matte thresholded at 50 %
                          with the true foreground (every object pixel)
Targets: 0.90, 0.85, 0.85, 0.95 (issue 2) and 0.90 (issue 6).
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.model import Model  # noqa: E402
from gateway.modelconfig import load_model_configs  # noqa: E402
from gateway.params import InferenceParams  # noqa: E402
from gateway.results import (  # noqa: E402
    Classification,
    Detections,
    Matte,
    Result,
    SemanticMask,
)
from models.training import scenes  # noqa: E402

MODELS = {
    "detect": "shapes-detect/1",
    "instance": "shapes-seg/1",
    "semantic": "shapes-semantic/1",
    "classify": "shapes-cls/1",
    "matting": "shapes-matte/1",
}
# mAP is measured over the whole score range, as usual; masks at the served defaults.
MAP_PARAMS = InferenceParams(confidence=0.001, iou=0.6)
SERVED_PARAMS = InferenceParams(confidence=0.4, iou=0.3)
FAMILY = {
    "detect": "detect",
    "instance": "outline",
    "semantic": "segment",
    "classify": "classify",
    "matting": "matting",
}

Predict = Callable[[np.ndarray, InferenceParams], Result]


def local_predictor(model: Model) -> Predict:
    def predict(image: np.ndarray, params: InferenceParams) -> Result:
        return model.predict([image], params)[0].result

    return predict


def _from_json(body: dict[str, Any], names: tuple[str, ...]) -> Result:
    """A Roboflow JSON response parsed back into the neutral result it renders."""
    if "segmentation_mask" in body:
        png = np.frombuffer(base64.b64decode(body["segmentation_mask"]), np.uint8)
        return SemanticMask(np.asarray(cv2.imdecode(png, cv2.IMREAD_UNCHANGED), np.uint8), names)
    if "top" in body:
        scores = np.zeros(len(names), np.float32)
        for p in body["predictions"]:
            scores[p["class_id"]] = p["confidence"]
        return Classification(scores, names)
    preds = body["predictions"]
    xyxy = np.array(
        [[p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2,
          p["y"] + p["height"] / 2] for p in preds],
        np.float32,
    ).reshape(-1, 4)  # fmt: skip
    polygons = None
    if preds and "points" in preds[0]:
        polygons = tuple(
            np.array([[q["x"], q["y"]] for q in p["points"]], np.float32).reshape(-1, 2)
            for p in preds
        )
    return Detections(
        xyxy,
        np.array([p["confidence"] for p in preds], np.float32),
        np.array([p["class_id"] for p in preds], np.int64),
        names,
        polygons,
    )


def http_predictor(
    client: httpx.Client, family: str, model_id: str, names: tuple[str, ...], key: str
) -> Predict:
    if family == "matting":
        return http_matting(client, key)

    def predict(image: np.ndarray, params: InferenceParams) -> Result:
        _, png = cv2.imencode(".png", image)  # lossless: same pixels as the local run
        query = {"api_key": key, "confidence": params.confidence, "overlap": params.iou}
        response = client.post(
            f"/{family}/{model_id}", params=query, content=base64.b64encode(png.tobytes())
        )
        response.raise_for_status()
        return _from_json(response.json(), names)

    return predict


def http_matting(client: httpx.Client, key: str) -> Predict:
    def predict(image: np.ndarray, params: InferenceParams) -> Result:
        _, png = cv2.imencode(".png", image)
        body = {"img": base64.b64encode(png.tobytes()).decode()}
        response = client.post("/human_image_segmentation", json=body, headers={"X-API-KEY": key})
        response.raise_for_status()
        alpha = np.frombuffer(base64.b64decode(response.json()["result"]), np.uint8)
        return Matte(np.asarray(cv2.imdecode(alpha, cv2.IMREAD_UNCHANGED), np.uint8))

    return predict


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9))


def average_precision(hits: list[tuple[float, bool]], n_truth: int) -> float:
    """VOC all-point interpolated AP from (score, is_true_positive) pairs."""
    if n_truth == 0:
        return float("nan")
    hits.sort(key=lambda h: -h[0])
    tp = np.cumsum([h[1] for h in hits]) if hits else np.zeros(0)
    recall = np.concatenate([[0.0], tp / n_truth, [1.0]])
    precision = np.concatenate([[1.0], tp / np.arange(1, len(hits) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def detection_map50(predict: Predict, held_out: list[Any]) -> float:
    n_classes = len(scenes.CLASSES)
    hits: list[list[tuple[float, bool]]] = [[] for _ in range(n_classes)]
    n_truth = [0] * n_classes
    for scene in held_out:
        result = predict(scene.image, MAP_PARAMS)
        assert isinstance(result, Detections)
        for c in range(n_classes):
            truth = scene.boxes[scene.class_ids == c]
            n_truth[c] += len(truth)
            mine = result.class_id == c
            boxes, scores = result.xyxy[mine], result.confidence[mine]
            used = np.zeros(len(truth), bool)
            overlaps = box_iou(boxes, truth) if len(truth) and len(boxes) else None
            for i in np.argsort(-scores):
                hit = False
                if overlaps is not None:
                    j = int(np.argmax(np.where(used, -1.0, overlaps[i])))
                    if overlaps[i, j] >= 0.5 and not used[j]:
                        used[j] = hit = True
                hits[c].append((float(scores[i]), hit))
    aps = [average_precision(hits[c], n_truth[c]) for c in range(n_classes)]
    return float(np.nanmean(aps))


def rasterise(points: np.ndarray, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    if len(points) >= 3:
        fixed = np.round(points * 16).astype(np.int32)  # 4 fractional bits
        cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def instance_mask_iou(predict: Predict, held_out: list[Any]) -> tuple[float, int]:
    """Mean IoU over ground-truth instances, and the count of unmatched predictions."""
    ious: list[float] = []
    false_positives = 0
    for scene in held_out:
        result = predict(scene.image, SERVED_PARAMS)
        assert isinstance(result, Detections)
        assert result.polygons is not None
        h, w = scene.image.shape[:2]
        masks = [rasterise(p, h, w) for p in result.polygons]
        pairs = []
        for g, truth in enumerate(scene.masks):
            for p, mask in enumerate(masks):
                if result.class_id[p] == scene.class_ids[g]:
                    union = np.logical_or(truth, mask).sum()
                    pairs.append((np.logical_and(truth, mask).sum() / max(union, 1), g, p))
        matched_truth: dict[int, float] = {}
        matched_pred: set[int] = set()
        for iou, g, p in sorted(pairs, reverse=True):
            if iou > 0 and g not in matched_truth and p not in matched_pred:
                matched_truth[g] = float(iou)
                matched_pred.add(p)
        ious += [matched_truth.get(g, 0.0) for g in range(len(scene.masks))]
        false_positives += len(masks) - len(matched_pred)
    return float(np.mean(ious)), false_positives


def semantic_miou(predict: Predict, held_out: list[Any]) -> float:
    n = len(scenes.CLASSES) + 1
    confusion = np.zeros((n, n), np.int64)
    for scene in held_out:
        result = predict(scene.image, SERVED_PARAMS)
        assert isinstance(result, SemanticMask)
        pairs = scene.semantic.astype(np.int64) * n + result.class_map.astype(np.int64)
        confusion += np.bincount(pairs.ravel(), minlength=n * n).reshape(n, n)
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    return float(np.mean(inter / np.maximum(union, 1)))


def classification_top1(predict: Predict, crops: list[tuple[np.ndarray, int]]) -> float:
    correct = 0
    for image, label in crops:
        result = predict(image, SERVED_PARAMS)
        assert isinstance(result, Classification)
        correct += int(result.ranked()[0][0] == label)
    return correct / len(crops)


def matting_iou(predict: Predict, held_out: list[Any]) -> float:
    ious = []
    for scene in held_out:
        result = predict(scene.image, SERVED_PARAMS)
        assert isinstance(result, Matte)
        mine, truth = result.alpha >= 128, scene.semantic > 0
        union = np.logical_or(mine, truth).sum()
        ious.append(np.logical_and(mine, truth).sum() / union if union else 1.0)
    return float(np.mean(ious))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--crops", type=int, default=400)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "models.yaml")
    parser.add_argument("--url", help="measure through a running gateway's HTTP routes")
    parser.add_argument("--api-key", default="local-demo-key")
    args = parser.parse_args()

    configs = {c.id: c for c in load_model_configs(args.config)}
    loaded = {
        task: Model.load(configs[model_id])
        for task, model_id in MODELS.items()
        if model_id in configs
    }
    if args.url:
        client = httpx.Client(base_url=args.url, timeout=60)
        models = {
            task: http_predictor(
                client, FAMILY[task], model.id, model.spec.class_names, args.api_key
            )
            for task, model in loaded.items()
        }
    else:
        models = {task: local_predictor(model) for task, model in loaded.items()}
    started = time.perf_counter()
    rng = np.random.default_rng(scenes.HELDOUT_SEED)
    held_out = [scenes.make_scene(rng) for _ in range(args.scenes)]
    crop_rng = np.random.default_rng(scenes.HELDOUT_SEED + 1)
    crops = [scenes.make_crop(crop_rng) for _ in range(args.crops)]
    mask_iou, false_positives = instance_mask_iou(models["instance"], held_out)
    report = {
        "detection_map50": round(detection_map50(models["detect"], held_out), 4),
        "instance_mask_iou": round(mask_iou, 4),
        "instance_unmatched_predictions": false_positives,
        "semantic_miou": round(semantic_miou(models["semantic"], held_out), 4),
        "classification_top1": round(classification_top1(models["classify"], crops), 4),
        "matting_iou": round(matting_iou(models["matting"], held_out), 4)
        if "matting" in models
        else None,
        "scenes": args.scenes,
        "instances": int(sum(len(s.class_ids) for s in held_out)),
        "crops": args.crops,
        "seed": scenes.HELDOUT_SEED,
        "through": args.url or "engine",
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    main()
