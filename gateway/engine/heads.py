"""Post-processing heads appended to a model's graph, so they run where the model runs.

On a GPU the raw output (8400 candidates x 84+ columns for a 640 YOLO) never crosses
to the host: NMS, the class filter and the mask-coefficient product run on the device
and only the kept detections come down. On the CPU the same graph runs, which keeps
CPU and GPU results identical by construction.

Detection head (YOLOv8/YOLO11 `[B, 4+nc(+nm), N]`, YOLOv5 `[B, N, 5+nc(+nm)]`, and
end-to-end exports `[B, K, 6(+nm)]`), extra graph inputs:
    gw_confidence [1] f32   keep scores strictly above this
    gw_iou        [1] f32   suppress boxes whose IoU with a kept one is above this
    gw_max_det    [1] i64   keep at most this many detections per image
    gw_class_gate [nc] f32  1 for classes to keep, 0 for classes filtered out
    gw_class_offset [1] f32 added per class id to boxes before NMS: one NMS pass covers
                            every class; 0 makes NMS class-agnostic
outputs (K kept detections over the whole batch, best first within each image):
    gw_batch [K] i64, gw_boxes [K, 4] f32 xyxy in network-input pixels,
    gw_scores [K] f32, gw_classes [K] i64, and for instance models
    gw_masks [K, mh, mw] f32: mask logits at prototype resolution.

Semantic head: logits `[B, C, H, W]` -> gw_class_map `[B, H, W]` u8 (arg-max class id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx

from gateway.engine.graph import FLOAT, INT64, UINT8, GraphBuilder

Layout = Literal["yolov8", "yolov5", "end2end"]

# [cx, cy, w, h] @ CXCYWH_TO_XYXY = [x1, y1, x2, y2]
CXCYWH_TO_XYXY = np.array(
    [[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]], dtype=np.float32
)

DETECTION_INPUTS = ("gw_confidence", "gw_iou", "gw_max_det", "gw_class_gate", "gw_class_offset")


@dataclass(frozen=True)
class DetectionLayout:
    """Where the raw detections are and how their columns are laid out."""

    kind: Layout
    output: str
    num_classes: int
    num_masks: int = 0
    protos: str | None = None


def _candidates(b: GraphBuilder, layout: DetectionLayout) -> tuple[str, str, str, str | None]:
    """(xyxy [B,N,4], score [B,N,1], class id [B,N,1] i64, coefficients [B,N,nm] | None)."""
    raw = b.one("Cast", layout.output, to=FLOAT)
    nc, nm = layout.num_classes, layout.num_masks
    if layout.kind == "end2end":
        rows = raw
        xyxy = b.slice(rows, 0, 4, axis=2)
        score = b.slice(rows, 4, 5, axis=2)
        class_id = b.one("Cast", b.slice(rows, 5, 6, axis=2), to=INT64)
        first_coef = 6
    else:
        rows = b.one("Transpose", raw, perm=[0, 2, 1]) if layout.kind == "yolov8" else raw
        xyxy = b.one("MatMul", b.slice(rows, 0, 4, axis=2), b.const(CXCYWH_TO_XYXY, np.float32))
        first_class = 4 if layout.kind == "yolov8" else 5
        scores = b.slice(rows, first_class, first_class + nc, axis=2)
        if layout.kind == "yolov5":  # class scores are conditional on objectness
            scores = b.one("Mul", scores, b.slice(rows, 4, 5, axis=2))
        score, class_id = b.op("TopK", scores, b.const([1]), n_out=2, axis=2)
        first_coef = first_class + nc
    coefs = b.slice(rows, first_coef, first_coef + nm, axis=2) if nm else None
    return xyxy, score, class_id, coefs


def _masks(b: GraphBuilder, protos_name: str, coefs: str, batch: str) -> str:
    """Mask logits [K, mh, mw]: each kept detection's coefficients times its image's protos."""
    protos = b.one("Cast", protos_name, to=FLOAT)  # [B, nm, mh, mw]
    shape = b.one("Shape", protos)
    mh_mw = b.slice(shape, 2, 4, axis=0)
    flat = b.reshape(b.one("Transpose", protos, perm=[1, 0, 2, 3]), [0, -1])  # [nm, B*mh*mw]
    per_image = b.one("MatMul", coefs, flat)  # [K, B*mh*mw]: every image, one is kept below
    per_image = b.one(
        "Reshape",
        per_image,
        b.one("Concat", b.const([-1]), b.slice(shape, 0, 1, axis=0), mh_mw, axis=0),
    )  # [K, B, mh, mw]
    which = b.one(
        "Expand", b.reshape(batch, [-1, 1, 1, 1]), b.one("Concat", b.const([1, 1]), mh_mw, axis=0)
    )
    own = b.one("GatherElements", per_image, which, axis=1)  # [K, 1, mh, mw]
    return b.one("Reshape", own, b.one("Concat", b.const([-1]), mh_mw, axis=0))


def attach_detection_head(model: onnx.ModelProto, layout: DetectionLayout) -> onnx.ModelProto:
    """Append thresholding, class filter, class-offset NMS and mask decoding to the graph."""
    b = GraphBuilder(model)
    conf = b.add_input("gw_confidence", FLOAT, [1])
    iou = b.add_input("gw_iou", FLOAT, [1])
    max_det = b.add_input("gw_max_det", INT64, [1])
    gate = b.add_input("gw_class_gate", FLOAT, [layout.num_classes])
    offset = b.add_input("gw_class_offset", FLOAT, [1])

    xyxy, score, class_id, coefs = _candidates(b, layout)
    score = b.one("Mul", score, b.one("Gather", gate, class_id))
    shifted = b.one("Add", xyxy, b.one("Mul", b.one("Cast", class_id, to=FLOAT), offset))
    scores_t = b.one("Transpose", score, perm=[0, 2, 1])  # [B, 1, N]: one "class" for NMS
    selected = b.one("NonMaxSuppression", shifted, scores_t, max_det, iou, conf)  # [K, 3]
    batch = b.slice(selected, 0, 1, axis=1)
    pair = b.one("Concat", batch, b.slice(selected, 2, 3, axis=1), axis=1)  # [K, 2]

    outputs: dict[str, tuple[str, int, list[int | str]]] = {
        "gw_batch": (b.reshape(batch, [-1]), INT64, ["gw_k"]),
        "gw_boxes": (b.one("GatherND", xyxy, pair), FLOAT, ["gw_k", 4]),
        "gw_scores": (b.reshape(b.one("GatherND", score, pair), [-1]), FLOAT, ["gw_k"]),
        "gw_classes": (b.reshape(b.one("GatherND", class_id, pair), [-1]), INT64, ["gw_k"]),
    }
    if coefs is not None and layout.protos is not None:
        kept = b.one("GatherND", coefs, pair)  # [K, nm]
        masks = _masks(b, layout.protos, kept, b.reshape(batch, [-1]))
        outputs["gw_masks"] = (masks, FLOAT, ["gw_k", "gw_mh", "gw_mw"])
    b.set_outputs(outputs)
    return model


def attach_semantic_head(model: onnx.ModelProto, logits: str, channels: int) -> onnx.ModelProto:
    """Replace `[B, C, H, W]` logits by the `[B, H, W]` uint8 arg-max class map.

    A single-channel output is read as binary logits: class 1 where the logit is > 0.
    """
    b = GraphBuilder(model)
    scores = b.one("Cast", logits, to=FLOAT)
    if channels == 1:
        scores = b.one("Concat", b.one("Mul", scores, b.const([0.0], np.float32)), scores, axis=1)
    class_map = b.one("Cast", b.one("ArgMax", scores, axis=1, keepdims=0), to=UINT8)
    b.set_outputs({"gw_class_map": (class_map, UINT8, ["gw_b", "gw_h", "gw_w"])})
    return model
