"""Model configuration: `configs/models.yaml` (or any YAML given by --config).

The file names the workspace the Roboflow SDK sees (`workspace:`, default `gateway`)
and holds a list of models under `models:`. Only `id` (`project/version`) and
`path` (ONNX file, relative to the YAML file) are required: for an Ultralytics export
the task, class names, input size and stride come from the ONNX metadata and the
output shapes. Every other field overrides what the file says:

    models:
      - id: shapes-detect/1
        path: ../models/shapes-detect.onnx
        task: detect            # detect | instance | semantic | classify | matting
        names: [circle, triangle, square, star]
        layout: auto            # auto | yolov8 | yolov5 | end2end (detect, instance)
        resize_type: letterbox  # letterbox | stretch | crop  (also SQUASH, NETWORK, CROP)
        target_size: 640        # side, or "WIDTHxHEIGHT" as in Deepomatic's vocabulary
        color_channels: RGB     # RGB | BGR
        pixel_scaling: 255.0    # pixels are divided by this ...
        mean: [0.0, 0.0, 0.0]   # ... then have this subtracted ...
        std: [1.0, 1.0, 1.0]    # ... and are divided by this
        dimension_order: NCHW   # NCHW | NHWC
        confidence: 0.4         # default score threshold
        thresholds: {star: 0.6} # per-label score thresholds (Deepomatic's `thresholds`)
        nms_threshold: 0.3      # default NMS IoU threshold
        max_detections: 300
        activation: none        # classify: none | softmax | sigmoid; matting: none | sigmoid
        multi_label: false      # classify: independent scores per class
        max_batch: 8            # images per session run (GATEWAY_MAX_BATCH)
        batch_wait_ms: 0        # wait for a fuller batch (GATEWAY_BATCH_WAIT_MS)
        fp16: false             # run in half precision on a GPU (GATEWAY_FP16)

Field names follow the Deepomatic pre/post-processing vocabulary where it has one.
A wrong file raises ConfigError naming the model and the field at fault.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gateway.errors import ConfigError
from gateway.results import Task

T = TypeVar("T")

TASK_ALIASES: dict[str, Task] = {
    "detect": Task.DETECT,
    "detection": Task.DETECT,
    "object-detection": Task.DETECT,
    "instance": Task.INSTANCE,
    "segment": Task.INSTANCE,
    "instance-segmentation": Task.INSTANCE,
    "semantic": Task.SEMANTIC,
    "semantic-segmentation": Task.SEMANTIC,
    "classify": Task.CLASSIFY,
    "classification": Task.CLASSIFY,
    "matting": Task.MATTING,
}
RESIZE_ALIASES = {
    "letterbox": "letterbox",
    "network": "letterbox",
    "stretch": "stretch",
    "squash": "stretch",
    "crop": "crop",
}
LAYOUTS = ("auto", "yolov8", "yolov5", "end2end")
ACTIVATIONS = ("none", "softmax", "sigmoid")


@dataclass(frozen=True)
class ModelConfig:
    """One model entry as written in the YAML; None means "take it from the model file"."""

    id: str
    path: Path
    task: Task | None = None
    names: tuple[str, ...] | None = None
    layout: str = "auto"
    resize_type: str | None = None
    target_size: tuple[int, int] | None = None  # (height, width)
    color_channels: str = "RGB"
    pixel_scaling: float = 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    dimension_order: str = "NCHW"
    confidence: float = 0.4
    nms_threshold: float = 0.3
    max_detections: int = 300
    activation: str = "none"
    multi_label: bool = False
    thresholds: Mapping[str, float] = field(default_factory=dict)
    # Serving: None takes the gateway's setting (GATEWAY_MAX_BATCH, _BATCH_WAIT_MS, _FP16).
    max_batch: int | None = None
    batch_wait_ms: float | None = None
    fp16: bool | None = None


class _Entry:
    """Reads and validates the fields of one model entry, naming it in every error."""

    def __init__(self, raw: Mapping[str, Any], label: str) -> None:
        self.raw = raw
        self.label = label

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.label}: field '{name}': {problem}")

    def get(self, name: str, parse: Callable[[Any], T], default: T) -> T:
        if name not in self.raw or self.raw[name] is None:
            return default
        try:
            return parse(self.raw[name])
        except (TypeError, ValueError) as exc:
            raise self.fail(name, f"{exc} (got {self.raw[name]!r})") from None

    def choice(self, name: str, aliases: Mapping[str, str], default: str) -> str:
        def parse(value: Any) -> str:
            key = str(value).strip().lower()
            if key not in aliases:
                raise ValueError(f"expected one of {', '.join(sorted(set(aliases)))}")
            return aliases[key]

        return self.get(name, parse, default)


def _triple(value: Any) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    items = [float(v) for v in value]
    if len(items) != 3:
        raise ValueError("expected 3 numbers, one per colour channel")
    return items[0], items[1], items[2]


def _target_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        height = width = value
    elif isinstance(value, str) and "x" in value.lower():
        w, h = value.lower().split("x", 1)
        width, height = int(w), int(h)
    elif isinstance(value, str):
        height = width = int(value)
    else:
        height, width = (int(v) for v in value)
    if height < 8 or width < 8:
        raise ValueError("sides must be at least 8 pixels")
    return height, width


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        keys = sorted(int(k) for k in value)
        if keys != list(range(len(keys))):
            raise ValueError("class ids must be 0..N-1 without gaps")
        return tuple(str(value[k] if k in value else value[str(k)]) for k in keys)
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) for v in value)
    raise ValueError("expected a non-empty list of class names or an {id: name} mapping")


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("expected a number between 0 and 1")
    return number


def _thresholds(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of label name to threshold")
    return {str(name): _fraction(threshold) for name, threshold in value.items()}


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError("expected a positive integer")
    return int(value)


def _milliseconds(value: Any) -> float:
    if isinstance(value, bool) or not 0 <= float(value) <= 1000:
        raise ValueError("expected milliseconds between 0 and 1000")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


KNOWN_FIELDS = frozenset(
    {
        "id", "path", "task", "names", "layout", "resize_type", "target_size",
        "color_channels", "pixel_scaling", "mean", "std", "dimension_order",
        "confidence", "nms_threshold", "max_detections", "activation", "multi_label",
        "thresholds", "max_batch", "batch_wait_ms", "fp16",
    }
)  # fmt: skip


def parse_model(raw: Any, index: int, base_dir: Path) -> ModelConfig:
    """Validate one entry of `models:`; `base_dir` anchors relative paths."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"models[{index}]: expected a mapping with 'id' and 'path'")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or model_id.count("/") != 1 or "" in model_id.split("/"):
        raise ConfigError(
            f"models[{index}]: field 'id': expected 'project/version', got {model_id!r}"
        )
    entry = _Entry(raw, f"model '{model_id}'")
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise entry.fail(unknown[0], f"unknown field (known: {', '.join(sorted(KNOWN_FIELDS))})")
    if not isinstance(raw.get("path"), str):
        raise entry.fail("path", "required: the ONNX file, relative to the config file")
    path = (base_dir / os.path.expanduser(raw["path"])).resolve()
    if not path.is_file():
        raise entry.fail("path", f"file not found: {path}")
    task_name = entry.choice("task", {k: k for k in TASK_ALIASES}, "")
    return ModelConfig(
        id=model_id,
        path=path,
        task=TASK_ALIASES[task_name] if task_name else None,
        names=entry.get("names", _names, None),
        layout=entry.choice("layout", {k: k for k in LAYOUTS}, "auto"),
        resize_type=entry.choice("resize_type", RESIZE_ALIASES, "") or None,
        target_size=entry.get("target_size", _target_size, None),
        color_channels=entry.choice("color_channels", {"rgb": "RGB", "bgr": "BGR"}, "RGB"),
        pixel_scaling=entry.get("pixel_scaling", float, 255.0),
        mean=entry.get("mean", _triple, (0.0, 0.0, 0.0)),
        std=entry.get("std", _triple, (1.0, 1.0, 1.0)),
        dimension_order=entry.choice("dimension_order", {"nchw": "NCHW", "nhwc": "NHWC"}, "NCHW"),
        confidence=entry.get("confidence", _fraction, 0.4),
        nms_threshold=entry.get("nms_threshold", _fraction, 0.3),
        max_detections=entry.get("max_detections", _positive_int, 300),
        activation=entry.choice("activation", {k: k for k in ACTIVATIONS}, "none"),
        multi_label=entry.get("multi_label", _bool, False),
        thresholds=entry.get("thresholds", _thresholds, {}),
        max_batch=entry.get("max_batch", _positive_int, None),
        batch_wait_ms=entry.get("batch_wait_ms", _milliseconds, None),
        fp16=entry.get("fp16", _bool, None),
    )


DEFAULT_WORKSPACE = "gateway"
# Route families and other first path segments: `/model/registry`, `/infer/...` and the
# web playground's `/playground` (gateway/dialects/playground.py) would hide `GET /{workspace}`.
RESERVED_WORKSPACES = frozenset(
    {"detect", "outline", "segment", "classify", "model", "infer", "playground"}
)


def _read(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read model config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"model config {path} is not valid YAML: {exc}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("models"), list):
        raise ConfigError(f"model config {path}: expected a top-level 'models:' list")
    return document


def configs_for_directory(directory: Path) -> list[ModelConfig]:
    """A folder of ONNX files: each `NAME.onnx` is model `NAME/1`, described by its metadata."""
    files = sorted(directory.glob("*.onnx"))
    if not files:
        raise ConfigError(f"{directory} holds no models.yaml and no .onnx file")
    return [ModelConfig(id=f"{f.stem.replace('/', '-')}/1", path=f.resolve()) for f in files]


def load_workspace(path: Path) -> str:
    """The workspace name the Roboflow SDK's bootstrap API reports.

    It must not be a route family or a model's project name: `GET /{workspace}/{project}`
    (SDK) and `GET /{project}/{version}` (inference) are told apart by it.
    """
    if path.is_dir():
        return DEFAULT_WORKSPACE
    document = _read(path)
    workspace = document.get("workspace", DEFAULT_WORKSPACE)
    if not isinstance(workspace, str) or not workspace or "/" in workspace:
        raise ConfigError(f"model config {path}: field 'workspace': expected a name without '/'")
    projects = {
        str(m.get("id", "")).split("/")[0] for m in document["models"] if isinstance(m, Mapping)
    }
    if workspace in RESERVED_WORKSPACES or workspace in projects:
        raise ConfigError(
            f"model config {path}: field 'workspace': {workspace!r} is a route family or a "
            "project name; pick another"
        )
    return workspace


def load_model_configs(path: Path) -> list[ModelConfig]:
    """Read and validate a models YAML file (or list a folder of ONNX files)."""
    if path.is_dir():
        return configs_for_directory(path)
    document = _read(path)
    configs = [parse_model(raw, i, path.parent) for i, raw in enumerate(document["models"])]
    seen: set[str] = set()
    for config in configs:
        if config.id in seen:
            raise ConfigError(f"model '{config.id}': field 'id': defined twice in {path}")
        seen.add(config.id)
    return configs
