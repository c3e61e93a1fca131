"""Semantic segmentation: logits [B, C, H, W] -> a class id per original pixel."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import onnx

from gateway.engine.heads import attach_semantic_head
from gateway.params import InferenceParams
from gateway.preprocess import Transform
from gateway.results import Result, SemanticMask
from gateway.spec import ModelSpec
from gateway.tasks import HeadlessTask


class SemanticTask(HeadlessTask):
    """The arg-max class map, computed where the model runs, mapped back to original size."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.outputs = ("gw_class_map",)

    def attach(self, model: onnx.ModelProto) -> onnx.ModelProto:
        channels = len(self.spec.class_names)
        for output in model.graph.output:
            if output.name == self.spec.output:
                dim = output.type.tensor_type.shape.dim[1]
                channels = dim.dim_value if dim.HasField("dim_value") else channels
        return attach_semantic_head(model, self.spec.output, channels)

    def postprocess(
        self,
        outputs: Mapping[str, np.ndarray],
        index: int,
        transform: Transform,
        params: InferenceParams,
    ) -> Result:
        class_map = outputs["gw_class_map"][index]
        full = transform.to_original(class_map, cv2.INTER_NEAREST, cv2.BORDER_CONSTANT)
        return SemanticMask(np.asarray(full, np.uint8), self.spec.class_names)
