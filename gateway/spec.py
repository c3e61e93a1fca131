"""A model's resolved spec: its config, completed from the ONNX metadata and shapes.

Precedence for every field: the YAML config, then Ultralytics metadata (`names`,
`imgsz`, `task`), then what the graph's shapes say. Anything still unknown, or a
contradiction between them, is a ConfigError naming the model and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from gateway.engine.graph import TensorInfo, graph_inputs, graph_outputs
from gateway.engine.heads import DetectionLayout, Layout
from gateway.engine.metadata import ExportMetadata, parse_metadata
from gateway.errors import ConfigError, ModelError
from gateway.modelconfig import TASK_ALIASES, ModelConfig
from gateway.results import Task

INPUT_DTYPES: dict[int, np.dtype[Any]] = {
    TensorProto.FLOAT: np.dtype(np.float32),
    TensorProto.FLOAT16: np.dtype(np.float16),
    TensorProto.UINT8: np.dtype(np.uint8),
}


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network's input tensor."""

    input_name: str
    input_dtype: np.dtype
    height: int
    width: int
    resize_type: str = "letterbox"  # letterbox | stretch | crop
    color_channels: str = "RGB"
    pixel_scaling: float = 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    dimension_order: str = "NCHW"
    pad_value: int = 114


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to run one model, fully resolved."""

    id: str
    task: Task
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    output: str
    confidence: float = 0.4
    nms_threshold: float = 0.3
    max_detections: int = 300
    detection: DetectionLayout | None = None
    activation: str = "none"
    multi_label: bool = False
    dynamic_batch: bool = True
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def threshold(self, class_name: str) -> float:
        """The score a label needs: its own threshold, else the model's confidence."""
        return self.thresholds.get(class_name, self.confidence)


def _fail(config: ModelConfig, field: str, problem: str) -> ConfigError:
    return ConfigError(f"model '{config.id}': field '{field}': {problem}")


def _task(config: ModelConfig, meta: ExportMetadata, outputs: list[TensorInfo]) -> Task:
    if config.task is not None:
        return config.task
    if meta.task is not None:
        if meta.task not in TASK_ALIASES:
            raise _fail(config, "task", f"the export's task {meta.task!r} is not supported")
        return TASK_ALIASES[meta.task]
    ranks = sorted(o.rank for o in outputs)
    by_ranks = {(3,): Task.DETECT, (3, 4): Task.INSTANCE, (4,): Task.SEMANTIC, (2,): Task.CLASSIFY}
    if tuple(ranks) in by_ranks:
        return by_ranks[tuple(ranks)]
    raise _fail(config, "task", "required: the file has no 'task' metadata")


def _input(config: ModelConfig, inputs: list[TensorInfo]) -> TensorInfo:
    if len(inputs) != 1 or inputs[0].rank != 4:
        shapes = ", ".join(f"{i.name}{list(i.shape)}" for i in inputs)
        raise ModelError(f"model '{config.id}': expected one 4-D image input, found {shapes}")
    if inputs[0].elem_type not in INPUT_DTYPES:
        raise ModelError(f"model '{config.id}': input type {inputs[0].elem_type} not supported")
    return inputs[0]


def _size(config: ModelConfig, meta: ExportMetadata, image: TensorInfo) -> tuple[int, int]:
    h_axis, w_axis = (2, 3) if config.dimension_order == "NCHW" else (1, 2)
    fixed = (image.dim(h_axis), image.dim(w_axis))
    size = config.target_size or meta.imgsz
    if size is None:
        if fixed[0] is None or fixed[1] is None:
            raise _fail(config, "target_size", "required: the input size is dynamic")
        return fixed[0], fixed[1]
    if None not in fixed and fixed != size:
        raise _fail(config, "target_size", f"{size} does not match the input shape {fixed}")
    return size


def _names(config: ModelConfig, meta: ExportMetadata, task: Task) -> tuple[str, ...]:
    names = config.names or meta.names
    if not names and task is Task.MATTING:
        return ("background", "foreground")
    if not names:
        raise _fail(config, "names", "required: the file has no 'names' metadata")
    return names


def _detection_layout(
    config: ModelConfig, task: Task, nc: int, meta: ExportMetadata, outputs: list[TensorInfo]
) -> DetectionLayout:
    dets = [o for o in outputs if o.rank == 3]
    protos = [o for o in outputs if o.rank == 4]
    if len(dets) != 1 or (task is Task.INSTANCE and len(protos) != 1):
        shapes = ", ".join(f"{o.name}{list(o.shape)}" for o in outputs)
        raise ModelError(f"model '{config.id}': unexpected outputs for {task.value}: {shapes}")
    det = dets[0]
    nm = 0
    if task is Task.INSTANCE:
        nm = protos[0].dim(1) or 32
    d1, d2 = det.dim(1), det.dim(2)
    kind: Layout
    if config.layout != "auto":
        kind = config.layout  # type: ignore[assignment]
    elif meta.end2end or (d2 == 6 + nm and d1 != 4 + nc + nm):
        kind = "end2end"
    elif d1 == 4 + nc + nm:
        kind = "yolov8"
    elif d2 == 5 + nc + nm:
        kind = "yolov5"
    else:
        raise _fail(
            config,
            "layout",
            f"cannot tell the layout of output {det.name}{list(det.shape)} with {nc} classes "
            f"and {nm} mask coefficients (yolov8 [B, 4+nc+nm, N], yolov5 [B, N, 5+nc+nm], "
            "end2end [B, K, 6+nm]); check 'names' or set 'layout'",
        )
    expected = {"yolov8": (1, 4 + nc + nm), "yolov5": (2, 5 + nc + nm), "end2end": (2, 6 + nm)}
    axis, width = expected[kind]
    if det.dim(axis) not in (None, width):
        raise _fail(
            config, "layout", f"{kind} needs {width} columns, {det.name} has {det.dim(axis)}"
        )
    return DetectionLayout(kind, det.name, nc, nm, protos[0].name if nm else None)


def _single_output(config: ModelConfig, outputs: list[TensorInfo], rank: int) -> TensorInfo:
    matching = [o for o in outputs if o.rank == rank]
    if not matching:
        raise ModelError(f"model '{config.id}': no {rank}-D output")
    return matching[0]


def resolve_spec(config: ModelConfig, model: onnx.ModelProto) -> ModelSpec:
    """Complete a model's config from its ONNX file."""
    meta = parse_metadata({p.key: p.value for p in model.metadata_props})
    image = _input(config, graph_inputs(model))
    outputs = graph_outputs(model)
    task = _task(config, meta, outputs)
    names = _names(config, meta, task)
    unknown = sorted(set(config.thresholds) - set(names))
    if unknown:
        raise _fail(config, "thresholds", f"unknown label {unknown[0]!r}")
    height, width = _size(config, meta, image)
    default_resize = "crop" if task is Task.CLASSIFY else "letterbox"
    pre = Preprocessing(
        input_name=image.name,
        input_dtype=INPUT_DTYPES[image.elem_type],
        height=height,
        width=width,
        resize_type=config.resize_type or default_resize,
        color_channels=config.color_channels,
        pixel_scaling=config.pixel_scaling,
        mean=config.mean,
        std=config.std,
        dimension_order=config.dimension_order,
    )
    detection = None
    if task in (Task.DETECT, Task.INSTANCE):
        detection = _detection_layout(config, task, len(names), meta, outputs)
        output = detection.output
    elif task is Task.MATTING:
        matte = _single_output(config, outputs, 4)
        if matte.dim(1) not in (None, 1):
            raise ModelError(
                f"model '{config.id}': a matte output has 1 channel, not {matte.dim(1)}"
            )
        output = matte.name
    elif task is Task.SEMANTIC:
        semantic = _single_output(config, outputs, 4)
        channels = semantic.dim(1)
        if (channels is not None and channels not in (len(names), 1)) or len(names) > 256:
            raise _fail(config, "names", f"{len(names)} names for {channels} output channels")
        output = semantic.name
    else:
        scores = _single_output(config, outputs, 2)
        if scores.dim(1) not in (None, len(names)):
            raise _fail(config, "names", f"{len(names)} names for {scores.dim(1)} outputs")
        output = scores.name
    return ModelSpec(
        id=config.id,
        task=task,
        class_names=names,
        preprocessing=pre,
        output=output,
        confidence=config.confidence,
        nms_threshold=config.nms_threshold,
        max_detections=config.max_detections,
        detection=detection,
        activation=config.activation,
        multi_label=config.multi_label,
        dynamic_batch=image.dim(0) is None,
        thresholds=config.thresholds,
    )
