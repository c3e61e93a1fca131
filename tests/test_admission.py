"""Overload: bounded concurrency and waiting per model; beyond it, 503 with Retry-After."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest

from gateway.admission import Admission
from gateway.errors import Unavailable
from gateway.jobs.sqlite import SqliteJobStore
from tests.conftest import ROOT, TEST_KEY, free_port, running_gateway, serving, settings_for
from tests.imageserver import serve_images


async def test_gate_admits_runs_queues_then_refuses() -> None:
    admission = Admission(max_concurrent=1, max_waiting=1)
    release = anyio.Event()
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with admission.slot("m/1"):
            entered.append(name)
            await release.wait()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hold, "running")
        await anyio.sleep(0.01)
        tasks.start_soon(hold, "waiting")
        await anyio.sleep(0.01)
        with pytest.raises(Unavailable, match="at capacity") as refused:
            async with admission.slot("m/1"):
                pass
        assert refused.value.retry_after == 1
        async with admission.slot("other/1"):  # other models have their own gate
            entered.append("other")
        release.set()
    assert entered == ["running", "other", "waiting"]


async def test_overload_is_503_with_retry_after(model_dir: Path, jpeg_bytes: bytes) -> None:
    body = base64.b64encode(jpeg_bytes)
    async with serving(settings_for(model_dir, max_concurrent=1, max_waiting=0)) as client:
        responses = await asyncio.gather(
            *(client.post(f"/outline/seg/1?api_key={TEST_KEY}", content=body) for _ in range(8))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200
    assert statuses[-1] == 503
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert "at capacity" in refused.json()["message"]


@asynccontextmanager
async def gateway(model_dir: Path, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        settings_for(model_dir, **overrides), "http://gw.test", timeout=30
    ) as client:
        yield client


async def test_inflight_limit_refuses_at_once_and_readyz_says_saturated(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    """Two requests wait on a slow image URL; the third gets 503 without waiting, and the
    readiness probe reports saturation until they are done."""
    with serve_images({"/a.jpg": jpeg_bytes}) as images:
        slow = quote(f"{images}/slow/1.0/a.jpg", safe="")
        async with gateway(model_dir, max_inflight=2) as client:
            admitted = [
                asyncio.create_task(client.get(f"/det/1?api_key={TEST_KEY}&image={slow}"))
                for _ in range(2)
            ]
            await asyncio.sleep(0.3)
            started = time.perf_counter()
            refused = await client.get(f"/det/1?api_key={TEST_KEY}&image={slow}")
            refused_after = time.perf_counter() - started
            ready = await client.get("/readyz")
            results = await asyncio.gather(*admitted)
            after = await client.get("/readyz")
    assert [r.status_code for r in results] == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "handling 2 requests" in refused.json()["message"]
    assert refused_after < 0.5
    assert ready.status_code == 503
    assert ready.json()["status"] == "saturated"
    assert ready.json()["inflight"] == 2
    assert after.status_code == 200
    assert after.json()["inflight"] == 0


async def test_request_deadline_is_503_in_the_dialects_shape(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    with serve_images({"/a.jpg": jpeg_bytes}) as images:
        slow = f"{images}/slow/2.0/a.jpg"
        async with gateway(model_dir, request_timeout=0.3) as client:
            roboflow = await client.get(f"/det/1?api_key={TEST_KEY}&image={quote(slow, safe='')}")
            body = {
                "model_id": "det/1",
                "api_key": TEST_KEY,
                "image": {"type": "url", "value": slow},
            }
            inference = await client.post("/infer/object_detection", json=body)
    for response in (roboflow, inference):
        assert response.status_code == 503
        assert "did not finish within 0.3s" in response.json()["message"]


async def test_a_body_trickling_in_gets_408(model_dir: Path, jpeg_bytes: bytes) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield base64.b64encode(jpeg_bytes[:300])
            await asyncio.sleep(0.1)

    async with gateway(model_dir, body_timeout=0.3) as client:
        response = await client.post(f"/det/1?api_key={TEST_KEY}", content=trickle())
    assert response.status_code == 408
    assert "did not arrive within 0.3s" in response.json()["message"]


async def test_queued_task_limit(model_dir: Path, jpeg_bytes: bytes, tmp_path: Path) -> None:
    """One task runs (task_concurrency=1) on a slow URL and one waits in the queue
    (max_pending_tasks=1): the next submission gets 503 until the queue has room."""
    task_db = tmp_path / "tasks.db"
    store = SqliteJobStore(task_db)

    async def until(done: Callable[[], bool]) -> None:
        for _ in range(400):  # however loaded the machine
            if done():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the tasks did not move")

    with serve_images({"/a.jpg": jpeg_bytes}) as images:
        body = {"inputs": [{"image": {"source": f"{images}/slow/1.0/a.jpg"}}]}
        path = "/v0.7/recognition/versions/1/inference"
        headers = {"X-API-KEY": TEST_KEY}
        overrides = {"max_pending_tasks": 1, "task_concurrency": 1, "task_db": task_db}
        async with gateway(model_dir, **overrides) as client:
            first = (await client.post(path, json=body, headers=headers)).json()["task_id"]
            await until(lambda: store.get(first).owner != "")  # running
            second = await client.post(path, json=body, headers=headers)  # queued
            refused = await client.post(path, json=body, headers=headers)
            await until(lambda: store.queued() == 0)  # the first ended, the second runs
            third = await client.post(path, json=body, headers=headers)
    store.close()
    assert second.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert "1 tasks are already waiting" in refused.json()["detail"]
    assert third.status_code == 200


def test_graceful_shutdown_drains_requests_and_tasks(tmp_path: Path) -> None:
    """SIGTERM while a request and two tasks are in flight: the request is answered, the
    short task finishes, and the task longer than the grace goes back to the queue (for
    another replica or the next start): neither lost nor left claimed."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_FETCH_ALLOW": "127.0.0.1",
        "GATEWAY_TASK_DB": str(tmp_path / "tasks.db"),
        "GATEWAY_SHUTDOWN_GRACE": "2",
    }
    command = [str(ROOT / ".venv" / "bin" / "gateway"), "serve"]
    headers = {"X-API-KEY": "local-demo-key"}
    path = "/v0.7/recognition/public/shapes-detect-v1/inference"
    started: list[subprocess.Popen[bytes]] = []
    with (
        serve_images({"/a.jpg": (ROOT / "models/examples/scene-1.jpg").read_bytes()}) as images,
        running_gateway(command, env, port, tmp_path / "serve.log", started) as base,
    ):
        short, long = (
            httpx.post(
                base + path,
                json={"inputs": [{"image": {"source": f"{images}/slow/{delay}/a.jpg"}}]},
                headers=headers,
            ).json()["task_id"]
            for delay in (1.0, 30)
        )
        slow = quote(f"{images}/slow/1.5/a.jpg", safe="")
        url = f"{base}/detect/shapes-detect/1?api_key=local-demo-key&image={slow}"
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.get, url, timeout=30)
            time.sleep(0.3)
            started[0].send_signal(signal.SIGTERM)
            answered = pending.result()
        assert started[0].wait(timeout=30) == 0
    assert answered.status_code == 200
    assert answered.json()["predictions"]
    store = SqliteJobStore(tmp_path / "tasks.db")
    finished, cut = store.get(short), store.get(long)
    store.close()
    assert finished is not None
    assert finished.status == "success"
    assert cut is not None
    assert (cut.status, cut.owner) == ("pending", "")
    log = (tmp_path / "serve.log").read_text()
    assert "draining in-flight requests" in log
