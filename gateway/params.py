"""Per-request inference parameters, on the neutral 0..1 scale."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidParameter


@dataclass(frozen=True)
class InferenceParams:
    """What a request may change; None means the model's configured default.

    confidence: keep detections/classes scoring above this (0..1)
    iou:        NMS IoU threshold (0..1)
    classes:    keep only these class names
    max_detections: cap on detections per image
    class_agnostic: one NMS over all classes instead of one per class
    """

    confidence: float | None = None
    iou: float | None = None
    classes: frozenset[str] | None = None
    max_detections: int | None = None
    class_agnostic: bool = False

    def __post_init__(self) -> None:
        for name in ("confidence", "iou"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidParameter(f"{name} must be between 0 and 1, got {value}")
        if self.max_detections is not None and self.max_detections < 1:
            raise InvalidParameter(f"max_detections must be at least 1, got {self.max_detections}")
