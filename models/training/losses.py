"""Target assignment and losses for the tiny anchor-free detector / instance segmenter.

Assignment (FCOS-like): an anchor point is a positive of a ground-truth object when it lies
inside the box, within ``CENTER_RADIUS`` strides of the box centre, on a pyramid level whose
size range contains the object and (for detection only) on the object's visible mask; ties go
to the smallest box. Objects left without any positive fall back to looser rules so that every
object is learned. Classification uses a quality focal loss whose target for the true class is
the (detached) IoU of the predicted box, so that scores rank boxes by localisation quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf

from models.training.nets import RawOutput, distances_to_xyxy

CENTER_RADIUS = 2.5
LEVEL_SIZE_RANGES: dict[int, tuple[float, float]] = {
    8: (0.0, 64.0),
    16: (40.0, 128.0),
    32: (96.0, 1e9),
}
"""Object size (longer box side, input pixels) handled by each stride."""
BOX_WEIGHT = 2.0
MASK_WEIGHT = 2.0
DICE_WEIGHT = 1.0
AUX_WEIGHT = 0.5
MAX_MASK_POSITIVES = 96
"""Per-image cap on the positives used for the mask loss (random subset)."""


@dataclass(frozen=True)
class Targets:
    """Ground truth of one image, in input pixels (boxes) and prototype pixels (masks)."""

    boxes: torch.Tensor  # (M, 4) xyxy
    class_ids: torch.Tensor  # (M,) long
    masks: torch.Tensor  # (M, S/4, S/4) float 0..1


def box_iou_giou(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise IoU and generalised IoU of two ``(P, 4)`` xyxy box sets."""
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter + 1e-7
    iou = inter / union
    hull = (
        torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])
    ).prod(dim=1) + 1e-7
    return iou, iou - (hull - union) / hull


def level_ranges(strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor (low, high) object size bounds from ``LEVEL_SIZE_RANGES``."""
    low = torch.zeros_like(strides)
    high = torch.zeros_like(strides)
    for stride, (lo, hi) in LEVEL_SIZE_RANGES.items():
        low[strides == stride] = lo
        high[strides == stride] = hi
    return low, high


def assign(
    anchors: torch.Tensor,
    strides: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    targets: Targets,
    proto_stride: int = 4,
    mask_aware: bool = True,
) -> torch.Tensor:
    """Index of the ground truth assigned to each anchor ``(N,)``, ``-1`` for negatives.

    With ``mask_aware`` an anchor must also lie on the object's visible mask (used for plain
    detection). The instance segmenter trains without it, so that anchors lying on an occluder
    inside a larger object's box still learn that object's mask coefficients.
    """
    boxes = targets.boxes
    count = len(boxes)
    if count == 0:
        return torch.full((len(anchors),), -1, dtype=torch.long)
    ax, ay = anchors[:, 0:1], anchors[:, 1:2]
    inside = (ax > boxes[:, 0]) & (ax < boxes[:, 2]) & (ay > boxes[:, 1]) & (ay < boxes[:, 3])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    radius = CENTER_RADIUS * strides[:, None]
    near = ((ax - centres[:, 0]).abs() < radius) & ((ay - centres[:, 1]).abs() < radius)
    sizes = (boxes[:, 2:] - boxes[:, :2]).max(dim=1).values
    scale_ok = (sizes >= low[:, None]) & (sizes <= high[:, None])
    side = targets.masks.shape[-1]
    iy = (anchors[:, 1] / proto_stride).long().clamp(0, side - 1)
    ix = (anchors[:, 0] / proto_stride).long().clamp(0, side - 1)
    candidates = inside & near & scale_ok
    if mask_aware:
        candidates &= (targets.masks[:, iy, ix] > 0.5).T
    for index in torch.nonzero(~candidates.any(dim=0)).flatten().tolist():
        loose = inside[:, index] & near[:, index] & scale_ok[:, index]
        if not loose.any():
            offset = ((anchors - centres[index]).abs() / strides[:, None]).max(dim=1).values
            offset = torch.where(scale_ok[:, index], offset, offset + 1e6)
            loose = torch.zeros_like(loose)
            loose[offset.argmin()] = True
        candidates[:, index] = loose
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1)
    cost = torch.where(
        candidates, areas[None, :], torch.full_like(candidates, 1e12, dtype=areas.dtype)
    )
    best = cost.argmin(dim=1)
    return torch.where(candidates.any(dim=1), best, torch.full_like(best, -1))


def quality_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0
) -> torch.Tensor:
    """Sum of the quality focal loss (BCE to a soft target, focal-modulated)."""
    bce = nnf.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * (logits.sigmoid() - target).abs().pow(gamma)).sum()


def _box_crop(gt_boxes: torch.Tensor, side: int, proto_stride: int) -> torch.Tensor:
    """``(P, side, side)`` float crop masks: prototype pixels whose centre is in the GT box
    grown by one prototype pixel."""
    centres = (torch.arange(side, dtype=torch.float32) + 0.5) * proto_stride
    margin = float(proto_stride)
    in_x = (centres[None, :] >= gt_boxes[:, 0:1] - margin) & (
        centres[None, :] <= gt_boxes[:, 2:3] + margin
    )
    in_y = (centres[None, :] >= gt_boxes[:, 1:2] - margin) & (
        centres[None, :] <= gt_boxes[:, 3:4] + margin
    )
    return (in_y[:, :, None] & in_x[:, None, :]).float()


def _mask_loss(
    coefs: torch.Tensor,
    protos: torch.Tensor,
    gt_masks: torch.Tensor,
    gt_boxes: torch.Tensor,
    proto_stride: int,
) -> torch.Tensor:
    """Sum over positives of the box-cropped mask loss: area-normalised BCE + soft Dice."""
    logits = torch.einsum("pk,khw->phw", coefs, protos)
    crop = _box_crop(gt_boxes, protos.shape[-1], proto_stride)
    area = crop.sum(dim=(1, 2)).clamp(min=1.0)
    bce = nnf.binary_cross_entropy_with_logits(logits, gt_masks, reduction="none")
    probs = logits.sigmoid() * crop
    inter = (probs * gt_masks).sum(dim=(1, 2))
    dice = 1.0 - (2.0 * inter + 1.0) / (probs.sum(dim=(1, 2)) + gt_masks.sum(dim=(1, 2)) + 1.0)
    return ((bce * crop).sum(dim=(1, 2)) / area + DICE_WEIGHT * dice).sum()


def _aux_semantic_loss(aux: torch.Tensor, targets: list[Targets]) -> torch.Tensor:
    """Cross-entropy of the auxiliary prototype-resolution semantic logits."""
    labels = torch.zeros((aux.shape[0], *aux.shape[2:]), dtype=torch.long)
    for b, target in enumerate(targets):
        if len(target.masks):
            cover, index = target.masks.max(dim=0)
            labels[b] = torch.where(cover >= 0.5, target.class_ids[index] + 1, 0)
    return nnf.cross_entropy(aux, labels)


def detection_loss(
    raw: RawOutput,
    anchors: torch.Tensor,
    strides: torch.Tensor,
    targets: list[Targets],
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Total loss and its parts for a batch (``raw`` in float32)."""
    distances, logits, coefs, protos = raw.distances, raw.logits, raw.coefs, raw.protos
    low, high = level_ranges(strides)
    cls_target = torch.zeros_like(logits)
    box_sum = logits.new_zeros(())
    mask_sum = logits.new_zeros(())
    positives = 0
    mask_positives = 0
    for b, target in enumerate(targets):
        assigned = assign(anchors, strides, low, high, target, mask_aware=protos is None)
        pos = torch.nonzero(assigned >= 0).flatten()
        if len(pos) == 0:
            continue
        gt = assigned[pos]
        pred_boxes = distances_to_xyxy(anchors[pos], distances[b, pos])
        iou, giou = box_iou_giou(pred_boxes, target.boxes[gt])
        box_sum = box_sum + (1.0 - giou).sum()
        cls_target[b, pos, target.class_ids[gt]] = iou.detach().clamp(min=0.0)
        positives += len(pos)
        if coefs is not None and protos is not None:
            if len(pos) > MAX_MASK_POSITIVES:
                pick = torch.randperm(len(pos), generator=generator)[:MAX_MASK_POSITIVES]
                pos, gt = pos[pick], gt[pick]
            mask_sum = mask_sum + _mask_loss(
                coefs[b, pos], protos[b], target.masks[gt], target.boxes[gt], 4
            )
            mask_positives += len(pos)
    norm = max(positives, 1)
    parts = {
        "cls": quality_focal_loss(logits, cls_target) / norm,
        "box": BOX_WEIGHT * box_sum / norm,
    }
    if coefs is not None:
        parts["mask"] = MASK_WEIGHT * mask_sum / max(mask_positives, 1)
    if raw.aux is not None:
        parts["aux"] = AUX_WEIGHT * _aux_semantic_loss(raw.aux, targets)
    parts["total"] = sum(parts.values(), logits.new_zeros(()))
    return parts


def semantic_loss(
    logits: torch.Tensor, labels: torch.Tensor, aux: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Cross-entropy plus soft Dice (mean over the labels present in the batch), plus the
    cross-entropy of the optional low-resolution deep-supervision logits ``aux``."""
    ce = nnf.cross_entropy(logits, labels)
    probs = logits.softmax(dim=1)
    one_hot = nnf.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (probs * one_hot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    present = one_hot.sum(dim=(0, 2, 3)) > 0
    dice = 1.0 - (2.0 * inter[present] + 1.0) / (total[present] + 1.0)
    parts = {"ce": ce, "dice": 0.5 * dice.mean()}
    if aux is not None:
        stride = labels.shape[-1] // aux.shape[-1]
        centres = labels[:, stride // 2 :: stride, stride // 2 :: stride]
        parts["aux"] = AUX_WEIGHT * nnf.cross_entropy(aux, centres)
    parts["total"] = sum(parts.values(), logits.new_zeros(()))
    return parts
