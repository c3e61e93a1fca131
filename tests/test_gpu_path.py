"""The GPU path's logic, run on the CPU: IOBinding runs, float16 models, provider options,
and the settings that choose them. (On a GPU machine, benchmarks/gpu_check.py checks
that the graph's nodes, NMS included, really are placed on CUDA.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from gateway.engine.precision import to_fp16
from gateway.engine.providers import CPU, CUDA, TENSORRT, on_device, provider_options
from gateway.engine.runtime import Runtime
from gateway.errors import ConfigError
from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams
from gateway.results import Detections
from gateway.settings import Settings
from tests.layouts import write_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {c.id: c for c in load_model_configs(ROOT / "configs" / "models.yaml")}
SCENE = cv2.imread(str(ROOT / "models" / "examples" / "scene-1.jpg"))


@pytest.mark.parametrize("model_id", ["shapes-detect/1", "shapes-seg/1", "shapes-semantic/1"])
def test_an_io_bound_run_gives_the_plain_run_outputs(model_id: str) -> None:
    plain = Model.load(CONFIGS[model_id], Runtime(io_binding=False))
    bound = Model.load(CONFIGS[model_id], Runtime(io_binding=True))
    assert bound.session.io_binding
    assert not plain.session.io_binding
    batch = np.concatenate([plain.prepare(SCENE).tensor] * 3)
    feeds = plain.feeds(InferenceParams())
    expected, got = plain.run(batch, feeds), bound.run(batch, feeds)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert got[name].dtype == value.dtype
        np.testing.assert_array_equal(got[name], value)


def test_only_the_heads_small_outputs_come_back_from_a_bound_run() -> None:
    model = Model.load(CONFIGS["shapes-seg/1"], Runtime(io_binding=True))
    outputs = model.run(model.prepare(SCENE).tensor, model.feeds(InferenceParams()))
    assert set(outputs) == {"gw_batch", "gw_boxes", "gw_scores", "gw_classes", "gw_masks"}
    kept = len(outputs["gw_scores"])
    assert 0 < kept < 20
    # K kept masks at prototype resolution, not the raw [1, 40, 2100] + [1, 32, 80, 80].
    assert outputs["gw_masks"].shape == (kept, 80, 80)


def test_a_float16_model_keeps_float32_edges_and_finds_the_same_objects() -> None:
    proto = to_fp16(onnx.load(str(CONFIGS["shapes-detect/1"].path)), "shapes-detect/1")
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights = [w for w in proto.graph.initializer if len(w.dims) == 4]
    assert weights
    assert all(w.data_type == onnx.TensorProto.FLOAT16 for w in weights)

    full = Model.load(CONFIGS["shapes-detect/1"])
    half = Model.load(replace(CONFIGS["shapes-detect/1"], fp16=True))
    a = full.predict([SCENE], InferenceParams())[0].result
    b = half.predict([SCENE], InferenceParams())[0].result
    assert isinstance(a, Detections)
    assert isinstance(b, Detections)
    assert len(a) == len(b) > 0
    assert a.names() == b.names()
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=2.0)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=0.02)


def test_gpu_settings_reach_the_runtime() -> None:
    settings = Settings.from_env(
        {"GATEWAY_FP16": "yes", "GATEWAY_TRT_CACHE": "/var/cache/trt", "GATEWAY_MAX_BATCH": "32"}
    )
    runtime = settings.runtime()
    assert runtime.fp16 is True
    assert runtime.trt_cache == Path("/var/cache/trt")
    assert runtime.max_batch == 32
    assert Settings.from_env({"GATEWAY_FP16": "0"}).fp16 is False
    with pytest.raises(ConfigError, match="GATEWAY_FP16: expected 1/true/yes/on"):
        Settings.from_env({"GATEWAY_FP16": "maybe"})
    with pytest.raises(ConfigError, match="GATEWAY_MAX_BATCH: expected a positive number"):
        Settings.from_env({"GATEWAY_MAX_BATCH": "0"})
    with pytest.raises(ConfigError, match="GATEWAY_BATCH_WAIT_MS: expected 0 or more"):
        Settings.from_env({"GATEWAY_BATCH_WAIT_MS": "-1"})


def test_a_models_config_overrides_batching_and_precision(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(CONFIGS["shapes-detect/1"].path.read_bytes())
    entry = {"id": "t/1", "path": "m.onnx", "max_batch": 2, "batch_wait_ms": 5, "fp16": False}
    (config,) = load_model_configs(write_config(tmp_path, [entry]))
    model = Model.load(config, Runtime(max_batch=32, batch_wait_ms=0.0, fp16=True))
    assert (model.max_batch, model.batch_wait) == (2, 0.005)
    assert model.session.providers == [CPU]
    for bad, message in [({"max_batch": 0}, "positive integer"), ({"batch_wait_ms": -2}, "0 and")]:
        with pytest.raises(ConfigError, match=message):
            load_model_configs(write_config(tmp_path, [{**entry, **bad}]))


def test_provider_options_pin_device_zero_and_cache_tensorrt_engines(tmp_path: Path) -> None:
    options = dict(provider_options([TENSORRT, CUDA, CPU], fp16=True, cache_dir=tmp_path))
    assert options[TENSORRT] == {
        "device_id": 0,
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(tmp_path),
    }
    assert options[CUDA]["device_id"] == 0
    assert options[CPU] == {}
    assert on_device([CUDA, CPU])
    assert on_device([TENSORRT, CUDA, CPU])
    assert not on_device([CPU])
