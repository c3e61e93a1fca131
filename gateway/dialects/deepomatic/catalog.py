"""Recognition specs and versions, built from the configured models.

Every detection, instance or classification model is
- a public spec named `{project}-v{version}` (its `id` is that name, so that the client
  routes a listed spec's `inference()` back to `/recognition/public/{name}/`);
- a private spec and a version, both with the integer id of the model's position.
Semantic segmentation has no v0.7 output type and is not listed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.dialects.deepomatic.inference import DISCARD_THRESHOLD
from gateway.errors import ModelNotFound
from gateway.model import Model
from gateway.registry import ModelRegistry
from gateway.results import Task

ROI = {Task.DETECT: "BBOX", Task.INSTANCE: "BBOX", Task.CLASSIFY: "NONE"}
RESIZE_TYPES = {"letterbox": "NETWORK", "stretch": "SQUASH", "crop": "CROP"}


def parse_id(raw: str, digits: int = 18) -> int | None:
    """`raw` as a non-negative integer of at most `digits` ASCII digits, else None.

    str.isdigit() alone admits digits int() refuses ("²") and numbers too large for the
    task stores' 64-bit ids.
    """
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= digits else None


def public_name(model: Model) -> str:
    project, version = model.id.split("/")
    return f"{project}-v{version}" if version.isdigit() else f"{project}-{version}"


class Catalog:
    """Lookups between models and their v0.7 names and ids."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.models = [m for m in registry if m.task in ROI]
        self.by_name = {public_name(m): m for m in self.models}

    def by_public_name(self, name: str) -> Model:
        if name not in self.by_name:
            raise ModelNotFound(f"no public recognition model '{name}'")
        return self.by_name[name]

    def by_id(self, raw_id: str) -> Model:
        index = parse_id(raw_id)
        if index is not None and 1 <= index <= len(self.models):
            return self.models[index - 1]
        raise ModelNotFound(f"no recognition spec or version {raw_id!r}")

    def number(self, model: Model) -> int:
        return self.models.index(model) + 1


def _updated(model: Model) -> str:
    stamp = model.path.stat().st_mtime if model.path else datetime.now(UTC).timestamp()
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def outputs(model: Model) -> list[dict[str, Any]]:
    exclusive = not (model.task is Task.CLASSIFY and model.spec.multi_label)
    labels = [{"id": i, "name": name} for i, name in enumerate(model.spec.class_names)]
    return [{"labels": {"roi": ROI[model.task], "exclusive": exclusive, "labels": labels}}]


def spec_body(catalog: Catalog, model: Model, public: bool) -> dict[str, Any]:
    return {
        "id": public_name(model) if public else catalog.number(model),
        "name": public_name(model),
        "description": f"{model.task.value} model {model.id} served by the gateway",
        "update_date": _updated(model),
        "metadata": {"model_id": model.id},
        "outputs": outputs(model),
        "current_version_id": catalog.number(model),
    }


def _post_processing(model: Model) -> dict[str, Any]:
    spec = model.spec
    thresholds = [spec.threshold(name) for name in spec.class_names]
    if model.task is Task.CLASSIFY:
        return {"classification": {"output_tensor": spec.output, "thresholds": thresholds}}
    return {
        "detection": {
            "yolo_output": {"output_tensor": spec.output, "anchors": []},
            "discard_threshold": DISCARD_THRESHOLD,
            "nms_threshold": spec.nms_threshold,
            "thresholds": thresholds,
            "normalize_wrt_tensor": "",
        }
    }


def version_body(catalog: Catalog, model: Model) -> dict[str, Any]:
    pre = model.spec.preprocessing
    preprocessing = {
        "inputs": [
            {
                "tensor_name": pre.input_name,
                "image": {
                    "resize_type": RESIZE_TYPES[pre.resize_type],
                    "data_type": str(pre.input_dtype).upper(),
                    "dimension_order": pre.dimension_order,
                    "pixel_scaling": pre.pixel_scaling,
                    "mean_file": "",
                    "target_size": f"{pre.width}x{pre.height}",
                    "color_channels": pre.color_channels,
                },
            }
        ],
        "batched_output": True,
    }
    return {
        "id": catalog.number(model),
        "spec_id": catalog.number(model),
        "network_id": catalog.number(model),
        "update_date": _updated(model),
        "preprocessing": preprocessing,
        "post_processings": [_post_processing(model)],
    }
