"""Independent numpy reference for detection post-processing, to check the graph heads."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-12))


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    conf: float,
    iou: float,
    max_det: int = 300,
    agnostic: bool = False,
) -> list[int]:
    """Greedy per-class NMS: indices kept, best first."""
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > conf]
    kept: list[int] = []
    for i in order:
        same = [k for k in kept if agnostic or classes[k] == classes[i]]
        if same and iou_matrix(xyxy[i : i + 1], xyxy[same]).max() > iou:
            continue
        kept.append(int(i))
        if len(kept) == max_det:
            break
    return kept


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
