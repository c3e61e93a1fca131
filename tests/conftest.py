"""Shared fixtures: small models of each family, and a gateway app with its lifespan."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import redis

from benchmarks.harness import GatewayFailed, free_port, wait_ready
from gateway.app import create_app
from gateway.auth import key_hash
from gateway.settings import Settings
from tests.layouts import make_model, save, ultralytics_metadata, write_config

ROOT = Path(__file__).resolve().parents[1]
TEST_KEY = "test-key-123"
DEMO_KEY = "local-demo-key"
SIZE = 320


def _detector(path: Path, task: str, names: list[str]) -> None:
    """One box at the network centre (128..192 x 144..176), class 0; with a mask if seg."""
    nc = len(names)
    nm = 32 if task == "segment" else 0
    raw = np.zeros((1, 4 + nc + nm, 2))
    raw[0, :5, 0] = [160, 160, 64, 32, 0.9]
    raw[0, :4, 1] = [60, 250, 20, 20]
    raw[0, 4 + 1, 1] = 0.6  # a second, weaker box of class 1
    mask = np.zeros((1, raw.shape[1], 1))
    mask[0, 4 : 4 + nc] = 1
    outputs = {"output0": (raw, mask)}
    if nm:
        raw[0, 4 + nc, :] = 1.0  # both use prototype 0, positive everywhere
        protos = np.zeros((1, nm, SIZE // 4, SIZE // 4))
        protos[0, 0] = 1.0
        outputs["output1"] = (protos, None)
    save(make_model(outputs, ultralytics_metadata(names, task, (SIZE, SIZE))), path)


def build_models(directory: Path) -> Path:
    """det/1, seg/1, sem/1 and cls/1 fixture models and a config naming them."""
    _detector(directory / "det.onnx", "detect", ["circle", "square"])
    _detector(directory / "seg.onnx", "segment", ["circle", "square"])
    logits = np.zeros((1, 2, 64, 64))
    logits[0, 1, :32] = 1.0
    meta = ultralytics_metadata(["background", "sky"], "semantic", (64, 64))
    save(make_model({"output0": (logits, None)}, meta, imgsz=(64, 64)), directory / "sem.onnx")
    meta = ultralytics_metadata(["cat", "dog"], "classify", (32, 32))
    scores = np.array([[0.3, 0.7]])
    save(make_model({"output0": (scores, None)}, meta, imgsz=(32, 32)), directory / "cls.onnx")
    return write_config(
        directory,
        [
            {"id": "det/1", "path": "det.onnx"},
            {"id": "seg/1", "path": "seg.onnx"},
            {"id": "sem/1", "path": "sem.onnx"},
            {"id": "cls/1", "path": "cls.onnx"},
        ],
    )


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    build_models(directory)
    return directory


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    """A white 640x480 JPEG."""
    ok, data = cv2.imencode(".jpg", np.full((480, 640, 3), 255, np.uint8))
    assert ok
    return data.tobytes()


def settings_for(model_dir: Path, **overrides: object) -> Settings:
    keys = model_dir / "keys.yaml"
    scoped = key_hash("scoped-key")
    keys.write_text(f"keys:\n  - {{name: scoped, key_hash: '{scoped}', models: [det/1]}}\n")
    base: dict[str, object] = {
        "config_path": model_dir / "models.yaml",
        "keys_path": keys,
        "api_keys": TEST_KEY,
        "warmup": False,
        "task_db": model_dir / "tasks.sqlite3",
        "fetch_allow": "127.0.0.1",  # the tests' image servers; SSRF tests override it
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def serving(
    settings: Settings, base_url: str = "http://gateway.test", **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to create_app(settings) through ASGITransport, its
    lifespan running; `options` go to the client (headers, timeout)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url, **options) as client,
    ):
        yield client


@pytest.fixture
async def client(model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app through ASGITransport, lifespan running."""
    settings = settings_for(model_dir, max_body_bytes=2_000_000, max_image_bytes=2_000_000)
    async with serving(settings) as http:
        yield http


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until `base`/readyz answers 200; the test fails if the process exits first."""
    try:
        wait_ready(base, process, 240.0, log)
    except GatewayFailed as exc:
        pytest.fail(f"{process.args}: {exc}")


@contextmanager
def running_gateway(
    command: list[str],
    env: dict[str, str],
    port: int,
    log: Path,
    started: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[str]:
    """Start a gateway process, wait until /readyz answers 200, stop it afterwards.

    The process is appended to `started` for tests that signal it themselves."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    if started is not None:
        started.append(process)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`scripts/serve`, exactly as the README starts it, on a free port of 127.0.0.1."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    env["GATEWAY_FETCH_ALLOW"] = "127.0.0.1"  # as the README says for its local image server
    with running_gateway([str(ROOT / "scripts" / "serve")], env, port, log) as base:
        yield base
    text = log.read_text()
    assert "local demo API key is active" in text
    assert "gateway.access" in text  # requests were logged (by path) ...
    assert DEMO_KEY not in text  # ... but never a key, though every one carried it


@pytest.fixture(scope="session")
def sagemaker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gateway serve --sagemaker` on SAGEMAKER_BIND_TO_PORT (no /opt/ml/model here)."""
    port = free_port()
    log = tmp_path_factory.mktemp("sagemaker") / "serve.log"
    env = {**os.environ, "GATEWAY_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": str(port)}
    env["GATEWAY_FETCH_ALLOW"] = "127.0.0.1"
    command = [str(ROOT / ".venv" / "bin" / "gateway"), "serve", "--sagemaker"]
    with running_gateway(command, env, port, log) as base:
        yield base


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on 127.0.0.1, for this test session only."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: scripts/test installs it with apt")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)
