"""`gateway predict`, the Roboflow JSON shapes, and the HTTP route that serves them."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest

from gateway.cli import main
from gateway.dialects.roboflow.params import percent_or_fraction
from gateway.errors import InvalidParameter
from gateway.images import decode_base64
from tests.layouts import make_model, save, ultralytics_metadata, write_config

NAMES = ["circle", "square"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A detector whose one box is at the centre; a semantic and a classify model."""
    raw = np.zeros((1, 6, 1))
    raw[0, :, 0] = [160, 160, 64, 32, 0.9, 0.1]
    mask = np.zeros((1, 6, 1))
    mask[0, 4:] = 1
    save(
        make_model({"output0": (raw, mask)}, ultralytics_metadata(NAMES, "detect", (320, 320))),
        tmp_path / "det.onnx",
    )
    logits = np.zeros((1, 2, 64, 64))
    logits[0, 1, :32] = 1.0  # the top half is class 1
    meta = ultralytics_metadata(["background", "sky"], "semantic", (64, 64))
    save(make_model({"output0": (logits, None)}, meta, imgsz=(64, 64)), tmp_path / "sem.onnx")
    meta = ultralytics_metadata(["cat", "dog"], "classify", (32, 32))
    save(
        make_model({"output0": (np.array([[0.3, 0.7]]), None)}, meta, imgsz=(32, 32)),
        tmp_path / "cls.onnx",
    )
    return write_config(
        tmp_path,
        [
            {"id": "det/1", "path": "det.onnx"},
            {"id": "sem/1", "path": "sem.onnx"},
            {"id": "cls/1", "path": "cls.onnx"},
        ],
    )


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "white.jpg"
    cv2.imwrite(str(path), np.full((480, 640, 3), 255, np.uint8))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    return dict(orjson.loads(capsys.readouterr().out))


def test_predict_prints_roboflow_detection_json(
    capsys: pytest.CaptureFixture[str], config: Path, jpeg: Path
) -> None:
    body = run_cli(capsys, "--config", str(config), "predict", str(jpeg), "--model", "det/1")
    assert body["image"] == {"width": 640, "height": 480}
    (prediction,) = body["predictions"]  # type: ignore[misc]
    # Network box 128..192 x 144..176 at scale 0.5 and 40 px top padding.
    assert {k: prediction[k] for k in ("x", "y", "width", "height")} == {
        "x": 320.0,
        "y": 240.0,
        "width": 128.0,
        "height": 64.0,
    }
    assert prediction["class"] == "circle"
    assert prediction["class_id"] == 0
    assert prediction["confidence"] == pytest.approx(0.9, abs=1e-4)
    assert isinstance(body["time"], float)


def test_predict_thresholds_on_both_scales(
    capsys: pytest.CaptureFixture[str], config: Path, jpeg: Path
) -> None:
    for confidence in ("95", "0.95"):
        body = run_cli(
            capsys, "--config", str(config), "predict", str(jpeg), "--model", "det/1",
            "--confidence", confidence,
        )  # fmt: skip
        assert body["predictions"] == []


def test_predict_semantic_and_classification(
    capsys: pytest.CaptureFixture[str], config: Path, jpeg: Path
) -> None:
    body = run_cli(capsys, "--config", str(config), "predict", str(jpeg), "--model", "sem/1")
    assert body["class_map"] == {"0": "background", "1": "sky"}
    mask = cv2.imdecode(
        np.frombuffer(base64.b64decode(str(body["segmentation_mask"])), np.uint8),
        cv2.IMREAD_UNCHANGED,
    )
    assert mask.shape == (480, 640)
    # Scale 0.1, 8 rows of padding: the model's rows 8..31 are image rows 0..239.
    assert (mask[:239] == 1).all()
    assert (mask[241:] == 0).all()
    body = run_cli(capsys, "--config", str(config), "predict", str(jpeg), "--model", "cls/1")
    assert body["top"] == "dog"
    assert body["predictions"][0] == {"class": "dog", "class_id": 1, "confidence": 0.7}  # type: ignore[index]


def test_predict_errors_are_reported_not_raised(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    assert main(["--config", str(config), "predict", "x.jpg", "--model", "nope/1"]) == 2
    assert "no model 'nope/1'" in capsys.readouterr().err
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert main(["--config", str(config), "predict", str(bad), "--model", "det/1"]) == 2
    assert "Could not load input image" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 0.4), ("40", 0.4), ("0.4", 0.4), ("1", 0.01), ("100", 1.0), ("0", 0.0), (50, 0.5)],
)
def test_percent_or_fraction(raw: str | None, expected: float) -> None:
    assert percent_or_fraction("confidence", raw, 0.4) == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["abc", "-1", "101", "nan"])
def test_percent_or_fraction_rejects(raw: str) -> None:
    with pytest.raises(InvalidParameter, match="confidence must be"):
        percent_or_fraction("confidence", raw, 0.4)


def test_base64_variants_decode_to_the_same_bytes() -> None:
    data = bytes(range(256)) * 3
    plain = base64.b64encode(data)
    wrapped = b"\n".join(plain[i : i + 76] for i in range(0, len(plain), 76)) + b"\n"
    urlsafe = base64.urlsafe_b64encode(data).rstrip(b"=")
    for text in (plain, wrapped, urlsafe, b"data:image/jpeg;base64," + plain):
        assert decode_base64(text) == data
