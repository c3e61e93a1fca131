"""Reading an ONNX graph's inputs and outputs, and a small builder for appended nodes."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gateway.errors import ModelError

Dim = int | str  # a fixed size, or the name of a dynamic axis


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and shape of a graph input or output."""

    name: str
    elem_type: int
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    def dim(self, axis: int) -> int | None:
        """The fixed size of an axis, or None when it is dynamic."""
        value = self.shape[axis]
        return value if isinstance(value, int) else None


def _info(value: onnx.ValueInfoProto) -> TensorInfo:
    tensor = value.type.tensor_type
    dims: list[Dim] = []
    for i, d in enumerate(tensor.shape.dim):
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or f"?{i}"))
    return TensorInfo(value.name, tensor.elem_type, tuple(dims))


def graph_inputs(model: onnx.ModelProto) -> list[TensorInfo]:
    """Real inputs: graph inputs that are not initializers."""
    initializers = {init.name for init in model.graph.initializer}
    return [_info(v) for v in model.graph.input if v.name not in initializers]


def graph_outputs(model: onnx.ModelProto) -> list[TensorInfo]:
    return [_info(v) for v in model.graph.output]


def default_opset(model: onnx.ModelProto) -> int:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return int(opset.version)
    raise ModelError("the model imports no default-domain opset")


class GraphBuilder:
    """Appends nodes, constants, inputs and outputs to a model's graph.

    Every name it creates starts with `gw_` so it cannot collide with the model's own.
    Only operators whose signature is the same from opset 11 on are used.
    """

    MIN_OPSET = 11

    def __init__(self, model: onnx.ModelProto) -> None:
        opset = default_opset(model)
        if opset < self.MIN_OPSET:
            raise ModelError(
                f"the model uses opset {opset}; re-export it with opset >= {self.MIN_OPSET}"
            )
        self.model = model
        self.graph = model.graph
        self._ids = count()

    def _name(self, hint: str) -> str:
        return f"gw_{hint}_{next(self._ids)}"

    def const(self, value: np.ndarray | list[float] | list[int], dtype: type = np.int64) -> str:
        name = self._name("const")
        array: np.ndarray = np.asarray(value, dtype=dtype)
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs: Any) -> list[str]:
        outputs = [self._name(op_type.lower()) for _ in range(n_out)]
        self.graph.node.append(
            helper.make_node(op_type, list(inputs), outputs, name=self._name(op_type), **attrs)
        )
        return outputs

    def one(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        return self.op(op_type, *inputs, **attrs)[0]

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        return self.one("Slice", x, self.const([start]), self.const([end]), self.const([axis]))

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.one("Reshape", x, self.const(shape))

    def add_input(self, name: str, elem_type: int, shape: list[int | str]) -> str:
        self.graph.input.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def set_outputs(self, outputs: dict[str, tuple[str, int, list[int | str]]]) -> None:
        """Replace the graph's outputs: {public name: (internal name, type, shape)}."""
        del self.graph.output[:]
        for public, (internal, elem_type, shape) in outputs.items():
            self.graph.node.append(helper.make_node("Identity", [internal], [public]))
            self.graph.output.append(helper.make_tensor_value_info(public, elem_type, shape))


FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
UINT8 = TensorProto.UINT8
