"""Half precision: a model's float32 weights and activations converted to float16.

Inputs and outputs stay float32 (the conversion inserts casts at the edges), so the
gateway's pre-processing and the appended heads are unchanged: the heads are
attached after the conversion and run in float32, NMS included. On a GPU with
tensor cores this roughly halves memory traffic; on a CPU onnxruntime has few
float16 kernels and it is slower, so it is a GPU setting (GATEWAY_FP16 or `fp16:`).
"""

from __future__ import annotations

import warnings

import onnx
from onnxconverter_common import float16

from gateway.errors import ModelError


def to_fp16(model: onnx.ModelProto, model_id: str) -> onnx.ModelProto:
    """The model with float16 weights and compute, float32 at its inputs and outputs."""
    try:
        with warnings.catch_warnings():
            # Weights below float16's range are flushed to its smallest value: expected.
            warnings.simplefilter("ignore", UserWarning)
            converted: onnx.ModelProto = float16.convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:  # the converter raises assorted types on odd graphs
        raise ModelError(f"model '{model_id}': cannot convert it to float16: {exc}") from exc
    return converted
