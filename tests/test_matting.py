"""Foreground matting route (seed 003, COMPAT.md section 3) through ASGITransport."""

from __future__ import annotations

import base64
import io
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import cv2
import httpx
import numpy as np
import pytest
from PIL import Image as PILImage

from tests.conftest import ROOT, TEST_KEY, free_port, serving, settings_for
from tests.imageserver import serve_images
from tests.layouts import make_model, save, ultralytics_metadata, write_config

SIZE = 320
CENTRE, RADIUS = (160.0, 160.0), 60.0  # network pixels


@pytest.fixture(scope="module")
def matting_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matte model whose logits are +8 inside a centred disc and -8 outside."""
    directory = tmp_path_factory.mktemp("matting")
    x, y = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5)
    inside = np.hypot(x - CENTRE[0], y - CENTRE[1]) < RADIUS
    logits = np.where(inside, 8.0, -8.0)[None, None]
    meta = ultralytics_metadata(["background", "foreground"], "matting", (SIZE, SIZE))
    save(make_model({"output0": (logits, None)}, meta), directory / "matte.onnx")
    return write_config(
        directory, [{"id": "matte/1", "path": "matte.onnx", "activation": "sigmoid"}]
    )


async def client_for(
    model_dir: Path, config: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        settings_for(model_dir, config_path=config, **overrides), "http://matting.test"
    ) as client:
        yield client


@pytest.fixture
async def mat(model_dir: Path, matting_config: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(model_dir, matting_config):
        yield client


def png(data: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def photo(width: int = 640, height: int = 480, fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def call(client: httpx.AsyncClient, body: dict[str, Any], path: str = "/human_image_segmentation"):  # type: ignore[no-untyped-def]
    return client.post(path, json=body, headers={"X-API-KEY": TEST_KEY})


async def test_alpha_matte_is_high_on_the_object_and_low_elsewhere(mat: httpx.AsyncClient) -> None:
    data = photo()
    response = await call(mat, {"img": base64.b64encode(data).decode()})
    assert response.status_code == 200
    alpha = png(response.json()["result"])
    assert alpha.shape == (480, 640)  # 8-bit, single channel, original size
    assert alpha.dtype == np.uint8
    # Network disc (160, 160) r 60 -> original centre (320, 240), radius 120.
    assert alpha[240, 320] == 255
    assert alpha[240, 320 + 110] == 255
    assert alpha[240, 320 + 130] == 0
    assert alpha[10, 10] == 0
    edge = alpha[240, 320 + 115 : 320 + 126]
    assert ((edge > 0) & (edge < 255)).any()  # resampled smoothly, not a hard step


async def test_foreground_is_rgba_with_the_matte_as_alpha(mat: httpx.AsyncClient) -> None:
    data = photo()
    body = {"img": base64.b64encode(data).decode()}
    alpha = png((await call(mat, body)).json()["result"])
    rgba = png(
        (await call(mat, {**body, "type": "foreground"}, "/human-segmentation")).json()["result"]
    )
    assert rgba.shape == (480, 640, 4)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    original = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(rgba[..., :3], original)


async def test_url_input(mat: httpx.AsyncClient) -> None:
    with serve_images({"/p.png": photo(300, 200, "PNG")}) as base:
        response = await call(mat, {"url": f"{base}/p.png", "type": ""})
    assert response.status_code == 200
    assert png(response.json()["result"]).shape == (200, 300)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "exactly one of 'url' and 'img'"),
        ({"url": "http://h/a.jpg", "img": "aGk="}, 400, "exactly one of 'url' and 'img'"),
        ({"img": 5}, 400, "must be strings"),
        ({"img": "aGk=", "type": "background"}, 400, "type must be empty or 'foreground'"),
        ({"img": "%%%"}, 400, "not valid base64"),
        ({"url": "ftp://h/a.jpg"}, 400, "url must be http(s):// or s3://"),
        ({"img": base64.b64encode(photo(64, 64, "WEBP")).decode()}, 400, "jpg, jpeg, png or bmp"),
        ({"img": base64.b64encode(photo(4100, 8, "PNG")).decode()}, 400, "at most 4096 px"),
    ],
)
async def test_errors(
    mat: httpx.AsyncClient, body: dict[str, Any], status: int, message: str
) -> None:
    response = await call(mat, body)
    assert response.status_code == status
    assert message in response.json()["error"]


async def test_json_only_and_keys(
    mat: httpx.AsyncClient, model_dir: Path, matting_config: Path
) -> None:
    form = await mat.post(
        "/human_image_segmentation", data={"img": "x"}, headers={"X-API-KEY": TEST_KEY}
    )
    assert form.status_code == 415
    assert "error" in form.json()
    assert (await mat.post("/human_image_segmentation", json={"img": "x"})).status_code == 401
    async for open_client in client_for(model_dir, matting_config, matting_auth="none"):
        body = {"img": base64.b64encode(photo(64, 48)).decode()}
        assert (await open_client.post("/human_image_segmentation", json=body)).status_code == 200


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on 127.0.0.1."""
    server = ROOT / ".venv-clients" / "aws" / "bin" / "moto_server"
    if not server.exists():
        pytest.fail(f"{server} is missing: run scripts/client-venvs (scripts/test does)")
    port = free_port()
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


async def test_s3_url(
    s3_endpoint: str, model_dir: Path, matting_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="people/p.jpg", Body=photo(200, 100))
    async for client in client_for(model_dir, matting_config, s3_endpoint_url=s3_endpoint):
        ok = await call(client, {"url": "s3://photos/people/p.jpg"})
        assert ok.status_code == 200
        assert png(ok.json()["result"]).shape == (100, 200)
        missing = await call(client, {"url": "s3://photos/nope.jpg"})
        assert missing.status_code == 400
        assert "NoSuchKey" in missing.json()["error"]
