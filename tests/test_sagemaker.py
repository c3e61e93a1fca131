"""SageMaker container contract (seed 000, COMPAT.md section 2) through ASGITransport."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from gateway.modelconfig import load_model_configs
from gateway.settings import Settings
from tests.conftest import serving, settings_for

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture
async def sm(model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        settings_for(model_dir, profile="sagemaker"), "http://sagemaker.test"
    ) as client:
        yield client


def decoded(content: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


async def test_ping_and_default_json(sm: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    ping = await sm.get("/ping")
    assert ping.status_code == 200
    response = await sm.post("/invocations", content=jpeg_bytes, headers=JPEG)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # The fixture's instance model (seg/1) finds the centre box and a weaker one.
    assert response.json() == {
        "labels": ["circle 90%", "square 60%"],
        "boxes": [[256.0, 208.0, 384.0, 272.0], [100.0, 400.0, 140.0, 440.0]],
    }


@pytest.mark.parametrize(
    ("headers", "media"),
    [
        ({"Accept": "image/jpeg"}, "image/jpeg"),
        ({"Accept": "image/png"}, "image/png"),
        (
            {"Accept": "*/*", "X-Amzn-SageMaker-Custom-Attributes": '{"response_type": "png"}'},
            "image/png",
        ),
        (
            {"X-Amzn-SageMaker-Custom-Attributes": '{"response_type": "jpeg", "other": 1}'},
            "image/jpeg",
        ),
        (
            {
                "Accept": "application/json",
                "X-Amzn-SageMaker-Custom-Attributes": '{"response_type": "png"}',
            },
            "application/json",
        ),
        ({"Accept": "text/html, image/png;q=0.9"}, "image/png"),
    ],
)
async def test_response_type_negotiation(
    sm: httpx.AsyncClient, jpeg_bytes: bytes, headers: dict[str, str], media: str
) -> None:
    response = await sm.post("/invocations", content=jpeg_bytes, headers={**JPEG, **headers})
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    if media != "application/json":
        image = decoded(response.content)
        assert image.shape == (480, 640, 3)
        # The instance's mask is blended over the white input inside its box.
        assert image[240, 320].max() - image[240, 320].min() > 40
        assert (image[5, 5] > 240).all()


async def test_threshold_and_target_model(sm: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    strict = await sm.post(
        "/invocations",
        content=jpeg_bytes,
        headers={**JPEG, "X-Amzn-SageMaker-Custom-Attributes": '{"threshold": 0.7}'},
    )
    assert strict.json()["labels"] == ["circle 90%"]
    other = await sm.post(
        "/endpoints/my-endpoint/invocations",
        content=jpeg_bytes,
        headers={**JPEG, "X-Amzn-SageMaker-Target-Model": "det/1"},
    )
    assert other.json()["labels"] == ["circle 90%", "square 60%"]


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"Content-Type": "text/plain"}, b"x", 415, "Content-Type must be image/jpeg or image/png"),
        ({}, b"x", 415, "Content-Type must be"),
        (
            {**JPEG, "X-Amzn-SageMaker-Custom-Attributes": "{response_type"},
            b"x",
            400,
            "must be a JSON object",
        ),
        ({**JPEG, "X-Amzn-SageMaker-Custom-Attributes": "[1]"}, b"x", 400, "must be a JSON object"),
        (
            {**JPEG, "X-Amzn-SageMaker-Custom-Attributes": '{"response_type": "gif"}'},
            b"x",
            400,
            "response_type must be",
        ),
        (
            {**JPEG, "X-Amzn-SageMaker-Custom-Attributes": '{"threshold": "high"}'},
            b"x",
            400,
            "threshold must be",
        ),
        ({**JPEG, "X-Amzn-SageMaker-Custom-Attributes": "x" * 1100}, b"x", 400, "over 1024 chars"),
        ({**JPEG, "Accept": "text/html"}, b"x", 406, "Accept must allow"),
        ({**JPEG, "X-Amzn-SageMaker-Target-Model": "nope/1"}, b"x", 404, "no model 'nope/1'"),
        ({**JPEG, "X-Amzn-SageMaker-Target-Model": "sem/1"}, b"x", 400, "needs instances"),
        (JPEG, b"\xff\xd8\xff" + b"x" * (6 * 1024 * 1024), 413, "over the limit"),
        (JPEG, b"not a jpeg", 400, "Could not load input image"),
    ],
)
async def test_errors(
    sm: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    response = await sm.post("/invocations", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["message"]


def test_sagemaker_profile_settings(model_dir: Path, tmp_path: Path) -> None:
    base = Settings.from_env(
        {"GATEWAY_PROFILE": "sagemaker", "GATEWAY_SAGEMAKER_MODEL_DIR": str(tmp_path)}
    )
    assert base.port == 8080
    assert base.config_path == Path("configs/models.yaml")  # /opt/ml/model holds nothing
    bound = Settings.from_env(
        {"SAGEMAKER_BIND_TO_PORT": "9000", "GATEWAY_PORT": "7000"}, profile="sagemaker"
    )
    assert bound.port == 9000
    shutil.copy(model_dir / "seg.onnx", tmp_path / "mask-rcnn.onnx")
    env = {"GATEWAY_SAGEMAKER_MODEL_DIR": str(tmp_path)}
    from_files = Settings.from_env(env, profile="sagemaker")
    assert from_files.config_path == tmp_path
    (config,) = load_model_configs(from_files.config_path)
    assert config.id == "mask-rcnn/1"
    (tmp_path / "models.yaml").write_text("models:\n  - {id: m/1, path: mask-rcnn.onnx}\n")
    assert Settings.from_env(env, profile="sagemaker").config_path == tmp_path / "models.yaml"
    assert Settings.from_env({"GATEWAY_PORT": "7000"}).port == 7000
