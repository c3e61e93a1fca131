"""Training-side evaluation of the exported ONNX models (onnxruntime + numpy only).

Usage (from the repository root)::

    python -m models.training.evaluate --task detect [--model models/shapes-detect.onnx]

Protocol: held-out scenes / crops from ``HELDOUT_SEED`` (one generator, drawn in sequence),
letterbox pre-processing, confidence 0.25, class-aware NMS at IoU 0.5, letterbox inverse.

* detect / segment: mAP@0.5 (VOC all-point interpolation, mean over classes) on boxes;
* segment: mean mask IoU over ground-truth instances (greedy match to the best-IoU prediction of
  the same class with box IoU >= 0.5, unmatched = 0; prototype mask upsampled bilinearly to the
  input, cropped to the predicted box, thresholded at 0.5, letterbox-inverted);
* semantic: mIoU over the 5 labels (background included) at original resolution;
* classify: top-1 accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.training import scenes
from models.training.data import (
    CLS_IMGSZ,
    IMGSZ,
    PROTO_STRIDE,
    Letterbox,
    classify_preprocess,
    letterbox,
    to_input,
)

CONF_THRESHOLD = 0.25
NMS_IOU = 0.5
MAX_DET = 100
DEFAULT_SCENES = 200
DEFAULT_CROPS = 1000
NUM_CLASSES = len(scenes.CLASSES)
MODEL_FILES = {
    "detect": "shapes-detect.onnx",
    "segment": "shapes-seg.onnx",
    "semantic": "shapes-semantic.onnx",
    "classify": "shapes-cls.onnx",
}


def session(path: Path) -> ort.InferenceSession:
    """A single-threaded CPU onnxruntime session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(A, 4)`` and ``(B, 4)`` xyxy boxes -> ``(A, B)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; indices of the kept boxes in descending score order."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        first = int(order[0])
        keep.append(first)
        rest = order[1:]
        order = rest[box_iou(boxes[first : first + 1], boxes[rest])[0] <= iou_threshold]
    return np.array(keep, np.int64)


def postprocess(
    output0: np.ndarray, conf: float = CONF_THRESHOLD, iou: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image's ``(4 + nc [+ 32], N)`` output -> input-pixel xyxy boxes, scores, classes
    and mask coefficients (empty when the model has none), after class-aware NMS."""
    preds = output0.T
    scores_all = preds[:, 4 : 4 + NUM_CLASSES]
    classes = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(preds)), classes]
    keep = scores >= conf
    preds, classes, scores = preds[keep], classes[keep], scores[keep]
    xy, wh = preds[:, :2], preds[:, 2:4]
    boxes = np.concatenate([xy - wh / 2.0, xy + wh / 2.0], axis=1)
    kept = nms(boxes + (classes * 4096.0)[:, None], scores, iou)[:MAX_DET]
    return boxes[kept], scores[kept], classes[kept], preds[kept, 4 + NUM_CLASSES :]


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    changes = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def map50(
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ground_truth: list[tuple[np.ndarray, np.ndarray]],
) -> dict[str, float]:
    """mAP@0.5 and per-class AP; detections are (boxes, scores, classes) per image."""
    result: dict[str, float] = {}
    for class_id, name in enumerate(scenes.CLASSES):
        records: list[tuple[float, int, np.ndarray]] = []
        total = 0
        for image_index, ((boxes, scores, classes), (_, gt_classes)) in enumerate(
            zip(detections, ground_truth, strict=True)
        ):
            total += int(np.sum(gt_classes == class_id))
            for box, score in zip(
                boxes[classes == class_id], scores[classes == class_id], strict=True
            ):
                records.append((float(score), image_index, box))
        records.sort(key=lambda record: -record[0])
        used = [np.zeros(int(np.sum(gt[1] == class_id)), bool) for gt in ground_truth]
        hits = np.zeros(len(records))
        for rank, (_, image_index, box) in enumerate(records):
            gt_boxes, gt_classes = ground_truth[image_index]
            candidates = gt_boxes[gt_classes == class_id]
            if not len(candidates):
                continue
            ious = box_iou(box[None], candidates)[0]
            best = int(ious.argmax())
            if ious[best] >= 0.5 and not used[image_index][best]:
                used[image_index][best] = True
                hits[rank] = 1.0
        true_pos = np.cumsum(hits)
        recall = true_pos / max(total, 1)
        precision = true_pos / np.arange(1, len(records) + 1)
        result[f"AP50_{name}"] = average_precision(recall, precision) if total else 0.0
    result["mAP50"] = float(np.mean([result[f"AP50_{n}"] for n in scenes.CLASSES]))
    return result


# --------------------------------------------------------------------------- masks


def instance_masks(
    coefs: np.ndarray,
    protos: np.ndarray,
    boxes: np.ndarray,
    geometry: Letterbox,
    height: int,
    width: int,
) -> np.ndarray:
    """``(K, H, W)`` bool original-resolution masks of K detections (input-pixel boxes)."""
    out = np.zeros((len(coefs), height, width), bool)
    if not len(coefs):
        return out
    side = protos.shape[-1] * PROTO_STRIDE
    logits = (coefs @ protos.reshape(protos.shape[0], -1)).reshape(-1, *protos.shape[1:])
    probs = 1.0 / (1.0 + np.exp(-logits))
    for index, (prob, box) in enumerate(zip(probs, boxes, strict=True)):
        full = cv2.resize(prob, (side, side), interpolation=cv2.INTER_LINEAR)
        centres = np.arange(side) + 0.5
        in_x = (centres >= box[0]) & (centres < box[2])
        in_y = (centres >= box[1]) & (centres < box[3])
        binary = ((full > 0.5) & in_y[:, None] & in_x[None, :]).astype(np.uint8)
        out[index] = geometry.map_to_image(binary, height, width, cv2.INTER_NEAREST) > 0
    return out


def mask_iou_matches(
    gt_masks: np.ndarray,
    gt_classes: np.ndarray,
    gt_boxes: np.ndarray,
    masks: np.ndarray,
    classes: np.ndarray,
    boxes: np.ndarray,
) -> list[float]:
    """Per-GT mask IoU: greedy best-IoU match among same-class predictions with box IoU >= 0.5."""
    result: list[float] = []
    used = np.zeros(len(masks), bool)
    box_ious = box_iou(gt_boxes, boxes) if len(boxes) else np.zeros((len(gt_boxes), 0))
    for index, gt_mask in enumerate(gt_masks):
        best, best_iou = -1, 0.0
        for pred in np.nonzero((classes == gt_classes[index]) & ~used)[0]:
            if box_ious[index, pred] < 0.5:
                continue
            inter = np.count_nonzero(gt_mask & masks[pred])
            iou = inter / max(np.count_nonzero(gt_mask | masks[pred]), 1)
            if iou > best_iou:
                best, best_iou = int(pred), iou
        if best >= 0:
            used[best] = True
        result.append(best_iou)
    return result


# --------------------------------------------------------------------------- tasks


def evaluate_detect(
    model: Path,
    count: int = DEFAULT_SCENES,
    with_masks: bool = False,
    conf: float = CONF_THRESHOLD,
    iou: float = NMS_IOU,
) -> dict[str, float]:
    """mAP@0.5 (and mean mask IoU with ``with_masks``) on held-out scenes."""
    sess = session(model)
    detections, ground_truth, mask_ious = [], [], []
    for scene in scenes.generate_scenes(scenes.HELDOUT_SEED, count):
        height, width = scene.image.shape[:2]
        image, geometry = letterbox(scene.image, IMGSZ)
        outputs = sess.run(None, {"images": to_input(image[None])})
        boxes, scores, classes, coefs = postprocess(outputs[0][0], conf, iou)
        image_boxes = geometry.boxes_to_image(boxes, height, width)
        detections.append((image_boxes, scores, classes))
        ground_truth.append((scene.boxes, scene.class_ids))
        if with_masks:
            masks = instance_masks(coefs, outputs[1][0], boxes, geometry, height, width)
            mask_ious += mask_iou_matches(
                scene.masks, scene.class_ids, scene.boxes, masks, classes, image_boxes
            )
    result = map50(detections, ground_truth)
    if with_masks:
        result["mask_IoU"] = float(np.mean(mask_ious))
    result["scenes"] = count
    result["objects"] = int(sum(len(gt[1]) for gt in ground_truth))
    return result


def evaluate_semantic(model: Path, count: int = DEFAULT_SCENES) -> dict[str, float]:
    """mIoU over background + classes, from one confusion matrix at original resolution."""
    sess = session(model)
    labels = NUM_CLASSES + 1
    confusion = np.zeros((labels, labels), np.int64)
    for scene in scenes.generate_scenes(scenes.HELDOUT_SEED, count):
        height, width = scene.image.shape[:2]
        image, geometry = letterbox(scene.image, IMGSZ)
        logits = sess.run(None, {"images": to_input(image[None])})[0][0]
        scores = geometry.map_to_image(
            np.ascontiguousarray(logits.transpose(1, 2, 0)), height, width, cv2.INTER_LINEAR
        )
        pred = scores.argmax(axis=2)
        confusion += np.bincount(
            scene.semantic.astype(np.int64).ravel() * labels + pred.ravel(),
            minlength=labels * labels,
        ).reshape(labels, labels)
    inter = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - inter
    ious = inter / np.maximum(union, 1)
    names = ("background", *scenes.CLASSES)
    result = {f"IoU_{name}": float(iou) for name, iou in zip(names, ious, strict=True)}
    result["mIoU"] = float(ious.mean())
    result["scenes"] = count
    return result


def evaluate_classify(model: Path, count: int = DEFAULT_CROPS) -> dict[str, float]:
    """Top-1 accuracy on held-out crops."""
    sess = session(model)
    rng = np.random.default_rng(scenes.HELDOUT_SEED)
    crops = [scenes.make_crop(rng) for _ in range(count)]
    images = np.stack([classify_preprocess(image, CLS_IMGSZ) for image, _ in crops])
    labels = np.array([label for _, label in crops])
    probs = np.concatenate(
        [sess.run(None, {"images": to_input(images[i : i + 64])})[0] for i in range(0, count, 64)]
    )
    result = {"top1": float(np.mean(probs.argmax(axis=1) == labels)), "crops": count}
    for class_id, name in enumerate(scenes.CLASSES):
        chosen = labels == class_id
        result[f"top1_{name}"] = float(np.mean(probs[chosen].argmax(axis=1) == class_id))
    return result


def evaluate(
    task: str,
    model: Path,
    count: int | None = None,
    conf: float = CONF_THRESHOLD,
    iou: float = NMS_IOU,
) -> dict[str, float]:
    """Dispatch to the task's evaluation."""
    if task == "classify":
        return evaluate_classify(model, count or DEFAULT_CROPS)
    if task == "semantic":
        return evaluate_semantic(model, count or DEFAULT_SCENES)
    return evaluate_detect(model, count or DEFAULT_SCENES, task == "segment", conf, iou)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=sorted(MODEL_FILES))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--conf", type=float, default=CONF_THRESHOLD)
    parser.add_argument("--iou", type=float, default=NMS_IOU, help="NMS IoU threshold")
    args = parser.parse_args()
    model = args.model or Path(__file__).resolve().parents[1] / MODEL_FILES[args.task]
    print(json.dumps(evaluate(args.task, model, args.count, args.conf, args.iou), indent=2))


if __name__ == "__main__":
    main()
