"""Neutral result types: what a model returns, free of any dialect's wire format.

Coordinates are in pixels of the original (EXIF-oriented) image, origin top-left.
Each type validates its arrays on construction so that a malformed result fails
where it is made, not where it is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
UInt8Array = npt.NDArray[np.uint8]


class Task(StrEnum):
    """What a model does; each value has its own result type."""

    DETECT = "detect"
    INSTANCE = "instance"
    SEMANTIC = "semantic"
    CLASSIFY = "classify"
    MATTING = "matting"


@dataclass(frozen=True)
class Detections:
    """Boxes (and, for instance segmentation, one polygon each) sorted by confidence."""

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    class_names: tuple[str, ...]
    polygons: tuple[FloatArray, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        if self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError("confidence and class_id must be (N,) like xyxy")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names)):
            raise ValueError("class_id out of range of class_names")
        if self.polygons is not None:
            if len(self.polygons) != n:
                raise ValueError("one polygon per detection is required")
            for polygon in self.polygons:
                if polygon.ndim != 2 or polygon.shape[1] != 2:
                    raise ValueError(f"polygons must be (M, 2), got {polygon.shape}")

    def __len__(self) -> int:
        return len(self.xyxy)

    def names(self) -> list[str]:
        """The class name of each detection."""
        return [self.class_names[i] for i in self.class_id.tolist()]


@dataclass(frozen=True)
class SemanticMask:
    """A class id per pixel, at the original image size."""

    class_map: UInt8Array
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.class_map.ndim != 2 or self.class_map.dtype != np.uint8:
            raise ValueError("class_map must be a 2-D uint8 array")


@dataclass(frozen=True)
class Classification:
    """One score per class; exclusive (softmax) or multi-label (independent scores)."""

    confidence: FloatArray
    class_names: tuple[str, ...]
    multi_label: bool = False

    def __post_init__(self) -> None:
        if self.confidence.shape != (len(self.class_names),):
            raise ValueError("one confidence per class is required")

    def ranked(self) -> list[tuple[int, float]]:
        """(class_id, confidence) pairs, best first."""
        order = np.argsort(-self.confidence, kind="stable")
        return [(int(i), float(self.confidence[i])) for i in order]


@dataclass(frozen=True)
class Matte:
    """Foreground opacity per pixel (0 = background, 255 = foreground), original size."""

    alpha: UInt8Array

    def __post_init__(self) -> None:
        if self.alpha.ndim != 2 or self.alpha.dtype != np.uint8:
            raise ValueError("alpha must be a 2-D uint8 array")


Result = Detections | SemanticMask | Classification | Matte


@dataclass
class Timings:
    """Seconds spent in each stage of one prediction."""

    decode: float = 0.0
    preprocess: float = 0.0
    queue: float = 0.0  # waiting for a batch to run in
    inference: float = 0.0  # the session run (of the whole batch the image was in)
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.decode + self.preprocess + self.queue + self.inference + self.postprocess


@dataclass(frozen=True)
class Prediction:
    """A model's result for one image, with the image's size and the time it took."""

    model_id: str
    task: Task
    width: int
    height: int
    result: Result
    timings: Timings = field(default_factory=Timings)
