"""One module per model family: the graph head it appends and its post-processing.

The processing contract, for every family:
    attach(onnx model)  -> the model with the family's head appended (or unchanged)
    outputs             -> the graph outputs the family reads
    feeds(params)       -> extra graph inputs for one request (thresholds, filters)
    postprocess(outputs, index, transform, params) -> the neutral Result of image
        `index` of a batched run, in original-image pixels, using that image's
        letterbox/stretch transform. Batches may mix requests: one image at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import onnx

from gateway.params import InferenceParams
from gateway.preprocess import Transform
from gateway.results import Result, Task
from gateway.spec import ModelSpec


class TaskHandler(Protocol):
    outputs: tuple[str, ...]

    def attach(self, model: onnx.ModelProto) -> onnx.ModelProto: ...

    def feeds(self, params: InferenceParams) -> dict[str, np.ndarray]: ...

    def postprocess(
        self,
        outputs: Mapping[str, np.ndarray],
        index: int,
        transform: Transform,
        params: InferenceParams,
    ) -> Result: ...


class HeadlessTask:
    """Defaults for families that append no head and take no per-request graph inputs."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.outputs: tuple[str, ...] = (spec.output,)

    def attach(self, model: onnx.ModelProto) -> onnx.ModelProto:
        return model

    def feeds(self, params: InferenceParams) -> dict[str, np.ndarray]:
        return {}


def handler_for(spec: ModelSpec) -> TaskHandler:
    """The handler for a model's task."""
    from gateway.tasks.classify import ClassifyTask
    from gateway.tasks.detection import DetectionTask
    from gateway.tasks.matting import MattingTask
    from gateway.tasks.semantic import SemanticTask

    if spec.task in (Task.DETECT, Task.INSTANCE):
        return DetectionTask(spec)
    if spec.task is Task.SEMANTIC:
        return SemanticTask(spec)
    if spec.task is Task.MATTING:
        return MattingTask(spec)
    return ClassifyTask(spec)
