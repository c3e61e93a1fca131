"""Model configuration: what is accepted, and the errors that name model and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.engine.metadata import parse_metadata
from gateway.errors import ConfigError, ModelError
from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.results import Task
from gateway.settings import Settings
from tests.layouts import make_model, save, ultralytics_metadata, write_config


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    raw = np.zeros((1, 4 + 2, 10))
    mask = np.zeros((1, 6, 1))
    meta = ultralytics_metadata(["a", "b"], "detect", (64, 64))
    return save(make_model({"output0": (raw, mask)}, meta, imgsz=(64, 64)), tmp_path / "m.onnx")


def test_minimal_entry_takes_everything_from_the_export(tmp_path: Path, onnx_file: Path) -> None:
    (config,) = load_model_configs(write_config(tmp_path, [{"id": "p/1", "path": "m.onnx"}]))
    model = Model.load(config)
    assert model.task is Task.DETECT
    assert model.spec.class_names == ("a", "b")
    assert (model.spec.preprocessing.height, model.spec.preprocessing.width) == (64, 64)
    assert model.spec.preprocessing.resize_type == "letterbox"


def test_explicit_fields_override_the_export(tmp_path: Path, onnx_file: Path) -> None:
    entry = {
        "id": "p/1",
        "path": "m.onnx",
        "names": {0: "x", 1: "y"},
        "resize_type": "SQUASH",
        "color_channels": "bgr",
        "mean": [0.485, 0.456, 0.406],
        "std": 0.5,
        "confidence": 0.6,
    }
    (config,) = load_model_configs(write_config(tmp_path, [entry]))
    spec = Model.load(config).spec
    assert spec.class_names == ("x", "y")
    assert spec.preprocessing.resize_type == "stretch"
    assert spec.preprocessing.color_channels == "BGR"
    assert spec.preprocessing.std == (0.5, 0.5, 0.5)
    assert spec.confidence == 0.6


ERRORS = [
    ({"path": "m.onnx"}, r"models\[0\]: field 'id'"),
    ({"id": "nover", "path": "m.onnx"}, r"field 'id': expected 'project/version'"),
    ({"id": "p/1"}, r"model 'p/1': field 'path': required"),
    ({"id": "p/1", "path": "missing.onnx"}, r"model 'p/1': field 'path': file not found"),
    ({"id": "p/1", "path": "m.onnx", "task": "pose"}, r"model 'p/1': field 'task': expected one"),
    ({"id": "p/1", "path": "m.onnx", "resize_type": "zoom"}, r"field 'resize_type'"),
    ({"id": "p/1", "path": "m.onnx", "confidence": 4}, r"field 'confidence': expected a number"),
    ({"id": "p/1", "path": "m.onnx", "max_detections": 0}, r"field 'max_detections'"),
    ({"id": "p/1", "path": "m.onnx", "mean": [1, 2]}, r"field 'mean': expected 3 numbers"),
    ({"id": "p/1", "path": "m.onnx", "target_size": "axb"}, r"field 'target_size'"),
    ({"id": "p/1", "path": "m.onnx", "names": []}, r"field 'names'"),
    ({"id": "p/1", "path": "m.onnx", "treshold": 0.5}, r"field 'treshold': unknown field"),
    ({"id": "p/1", "path": "m.onnx", "multi_label": "yes"}, r"field 'multi_label'"),
]


@pytest.mark.parametrize(("entry", "message"), ERRORS)
def test_config_errors_name_model_and_field(
    tmp_path: Path, onnx_file: Path, entry: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_model_configs(write_config(tmp_path, [entry]))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"names": ["a", "b", "c"]}, r"model 'p/1': field 'layout': cannot tell the layout"),
        ({"target_size": 128}, r"model 'p/1': field 'target_size': \(128, 128\) does not match"),
        ({"task": "classify"}, r"model 'p/1': no 2-D output"),
    ],
)
def test_contradictions_with_the_file_are_reported(
    tmp_path: Path, onnx_file: Path, entry: dict[str, object], message: str
) -> None:
    (config,) = load_model_configs(
        write_config(tmp_path, [{"id": "p/1", "path": "m.onnx", **entry}])
    )
    with pytest.raises((ConfigError, ModelError), match=message):
        Model.load(config)


def test_missing_names_are_asked_for(tmp_path: Path) -> None:
    raw = np.zeros((1, 6, 10))
    save(
        make_model({"output0": (raw, np.zeros((1, 6, 1)))}, {}, imgsz=(64, 64)), tmp_path / "m.onnx"
    )
    (config,) = load_model_configs(write_config(tmp_path, [{"id": "p/1", "path": "m.onnx"}]))
    with pytest.raises(ConfigError, match=r"model 'p/1': field 'names': required"):
        Model.load(config)


def test_duplicate_ids_and_bad_documents(tmp_path: Path, onnx_file: Path) -> None:
    entry = {"id": "p/1", "path": "m.onnx"}
    with pytest.raises(ConfigError, match="defined twice"):
        load_model_configs(write_config(tmp_path, [entry, entry]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model_configs(bad)
    bad.write_text("- id: p/1")
    with pytest.raises(ConfigError, match="top-level 'models:' list"):
        load_model_configs(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_model_configs(tmp_path / "absent.yaml")


def test_not_an_onnx_file(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"certainly not protobuf \x00\x01")
    (config,) = load_model_configs(write_config(tmp_path, [{"id": "p/1", "path": "m.onnx"}]))
    with pytest.raises(ModelError, match="model 'p/1'"):
        Model.load(config)


def test_ultralytics_metadata_parsing() -> None:
    meta = parse_metadata(
        {
            "names": "{0: 'person', 1: 'bicycle', 2: \"it's\"}",
            "imgsz": "[384, 640]",
            "task": "segment",
            "stride": "32",
            "args": "{'batch': 1, 'nms': True}",
        }
    )
    assert meta.names == ("person", "bicycle", "it's")
    assert meta.imgsz == (384, 640)
    assert meta.task == "segment"
    assert meta.stride == 32
    assert meta.end2end
    with pytest.raises(ModelError, match="'names' is not a literal"):
        parse_metadata({"names": "__import__('os')"})


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {"GATEWAY_CONFIG": "/x.yaml", "GATEWAY_PORT": "8080", "GATEWAY_PROVIDER": "CPU"}
    )
    assert settings.config_path == Path("/x.yaml")
    assert settings.port == 8080
    assert settings.provider == "cpu"
    assert Settings.from_env({"GATEWAY_PORT": "8080"}, port=9000).port == 9000
    with pytest.raises(ConfigError, match="GATEWAY_PORT"):
        Settings.from_env({"GATEWAY_PORT": "eighty"})
    with pytest.raises(ConfigError, match="GATEWAY_PROVIDER"):
        Settings.from_env({"GATEWAY_PROVIDER": "tpu"})
