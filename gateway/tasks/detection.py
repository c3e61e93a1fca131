"""Object detection and instance segmentation (Ultralytics YOLOv5/v8/11, end-to-end)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from gateway.engine.heads import DETECTION_INPUTS, attach_detection_head
from gateway.errors import InvalidParameter, ModelError
from gateway.params import InferenceParams
from gateway.preprocess import Transform
from gateway.results import Detections, Result
from gateway.spec import ModelSpec
from gateway.tasks.polygons import mask_to_polygon


class DetectionTask:
    """Boxes (and polygons for instance models) from the detection head's outputs."""

    def __init__(self, spec: ModelSpec) -> None:
        if spec.detection is None:
            raise ModelError(f"model '{spec.id}' has no detection layout")
        self.spec = spec
        self.layout = spec.detection
        self.with_masks = self.layout.num_masks > 0
        base = ("gw_batch", "gw_boxes", "gw_scores", "gw_classes")
        self.outputs: tuple[str, ...] = (*base, "gw_masks") if self.with_masks else base
        pre = spec.preprocessing
        # Class offsets larger than any coordinate keep classes apart in one NMS pass.
        self.class_offset = float(4 * max(pre.height, pre.width))
        self.index = {name: i for i, name in enumerate(spec.class_names)}

    def attach(self, model: onnx.ModelProto) -> onnx.ModelProto:
        return attach_detection_head(model, self.layout)

    def class_gate(self, classes: frozenset[str] | None) -> np.ndarray:
        gate = np.ones(len(self.spec.class_names), dtype=np.float32)
        if classes is not None:
            unknown = sorted(classes - self.index.keys())
            if unknown:
                raise InvalidParameter(
                    f"unknown class {unknown[0]!r} for model {self.spec.id} "
                    f"(classes: {', '.join(self.spec.class_names)})"
                )
            gate[:] = 0.0
            gate[[self.index[name] for name in classes]] = 1.0
        return gate

    def feeds(self, params: InferenceParams) -> dict[str, np.ndarray]:
        spec = self.spec
        confidence = spec.confidence if params.confidence is None else params.confidence
        iou = spec.nms_threshold if params.iou is None else params.iou
        max_det = spec.max_detections if params.max_detections is None else params.max_detections
        values = (
            np.array([confidence], dtype=np.float32),
            np.array([iou], dtype=np.float32),
            np.array([max_det], dtype=np.int64),
            self.class_gate(params.classes),
            np.array([0.0 if params.class_agnostic else self.class_offset], dtype=np.float32),
        )
        return dict(zip(DETECTION_INPUTS, values, strict=True))

    def postprocess(
        self,
        outputs: Mapping[str, np.ndarray],
        index: int,
        transform: Transform,
        params: InferenceParams,
    ) -> Result:
        pre = self.spec.preprocessing
        keep = np.flatnonzero(outputs["gw_batch"] == index)
        xyxy = transform.xyxy_to_original(outputs["gw_boxes"][keep])
        # Boxes that lie wholly in the letterbox padding collapse when clipped.
        visible = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        keep, xyxy = keep[visible], xyxy[visible]
        boxes = outputs["gw_boxes"][keep]
        polygons = None
        if self.with_masks:
            masks = outputs["gw_masks"]
            polygons = tuple(
                mask_to_polygon(masks[k], boxes[j], (pre.height, pre.width), transform)
                for j, k in enumerate(keep)
            )
        return Detections(
            xyxy=xyxy,
            confidence=outputs["gw_scores"][keep].astype(np.float32, copy=False),
            class_id=outputs["gw_classes"][keep].astype(np.int64, copy=False),
            class_names=self.spec.class_names,
            polygons=polygons,
        )
