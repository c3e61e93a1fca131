"""Tiny ONNX graphs with the exact output layouts of real exports, for the engine tests.

Each graph ignores the image except for one thing: every score-like value is
multiplied by the image's maximum pixel value (0..1 after scaling). An all-black
image therefore yields no detections, a white one yields the crafted raw tensor, and
batches can be checked per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _image_max(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], rank: int) -> str:
    """Per-image maximum pixel value, shaped [B, 1, ...] to broadcast over `rank` dims."""
    name = f"img_max{rank}"
    if any(name in node.output for node in nodes):
        return name
    if not any("img_max_all" in node.output for node in nodes):
        nodes.append(
            helper.make_node("ReduceMax", ["images"], ["img_max_all"], axes=[1, 2, 3], keepdims=1)
        )
    shape = np.array([-1] + [1] * (rank - 1), np.int64)
    inits.append(numpy_helper.from_array(shape, f"{name}_shape"))
    nodes.append(helper.make_node("Reshape", ["img_max_all", f"{name}_shape"], [name]))
    return name


def _scaled_output(
    name: str, raw: np.ndarray, score_mask: np.ndarray, nodes: list, inits: list
) -> None:
    """name = raw * (1 + (image_max - 1) * score_mask): scores follow the image, rest fixed."""
    m = _image_max(nodes, inits, raw.ndim)
    inits.append(numpy_helper.from_array(raw.astype(np.float32), f"{name}_raw"))
    inits.append(numpy_helper.from_array(score_mask.astype(np.float32), f"{name}_mask"))
    inits.append(numpy_helper.from_array(np.array(1.0, np.float32), f"{name}_one"))
    nodes += [
        helper.make_node("Sub", [m, f"{name}_one"], [f"{name}_m1"]),
        helper.make_node("Mul", [f"{name}_m1", f"{name}_mask"], [f"{name}_mm"]),
        helper.make_node("Add", [f"{name}_mm", f"{name}_one"], [f"{name}_factor"]),
        helper.make_node("Mul", [f"{name}_raw", f"{name}_factor"], [name]),
    ]


def _passthrough(name: str, value: np.ndarray, nodes: list, inits: list) -> None:
    """name = value broadcast over the batch (value has a leading axis of 1)."""
    m = _image_max(nodes, inits, value.ndim)
    inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), f"{name}_zero"))
    nodes += [
        helper.make_node("Mul", [m, f"{name}_zero"], [f"{name}_z"]),
        helper.make_node("Add", [f"{name}_value", f"{name}_z"], [name]),
    ]


def make_model(
    outputs: dict[str, tuple[np.ndarray, np.ndarray | None]],
    metadata: dict[str, str],
    imgsz: tuple[int, int] = (320, 320),
    batch: int | str = "batch",
) -> onnx.ModelProto:
    """outputs: {name: (raw with a leading batch axis of 1, score mask or None)}."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    graph_outputs = []
    for name, (raw, mask) in outputs.items():
        if mask is None:
            _passthrough(name, raw, nodes, inits)
        else:
            _scaled_output(name, raw, mask, nodes, inits)
        dims: list[int | str] = [batch, *raw.shape[1:]]
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *imgsz])
    graph = helper.make_graph(nodes, "layout", [image], graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    for key, value in metadata.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model


def ultralytics_metadata(names: list[str], task: str, imgsz: tuple[int, int]) -> dict[str, str]:
    return {
        "description": "Ultralytics test export",
        "author": "Ultralytics",
        "version": "8.3.0",
        "stride": "32",
        "task": task,
        "batch": "1",
        "imgsz": str(list(imgsz)),
        "names": str(dict(enumerate(names))),
    }


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def write_config(tmp: Path, entries: list[dict[str, object]]) -> Path:
    import yaml

    path = tmp / "models.yaml"
    path.write_text(yaml.safe_dump({"models": entries}))
    return path
