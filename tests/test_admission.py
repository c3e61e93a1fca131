"""Overload: bounded concurrency and waiting per model; beyond it, 503 with Retry-After."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import anyio
import httpx
import pytest

from gateway.admission import Admission
from gateway.app import create_app
from gateway.errors import Unavailable
from tests.conftest import TEST_KEY, settings_for


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
    app = create_app(settings_for(model_dir, max_concurrent=1, max_waiting=0))
    transport = httpx.ASGITransport(app=app)
    body = base64.b64encode(jpeg_bytes)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
    ):
        responses = await asyncio.gather(
            *(client.post(f"/outline/seg/1?api_key={TEST_KEY}", content=body) for _ in range(8))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200
    assert statuses[-1] == 503
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert "at capacity" in refused.json()["message"]
