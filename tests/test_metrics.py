"""GET /metrics: real requests through the app, then the values they must have left."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app, internal_error
from gateway.metrics import Metrics
from gateway.observe import ObservedApp
from gateway.settings import Settings
from tests.conftest import ROOT, TEST_KEY, free_port, running_gateway, serving, settings_for
from tests.imageserver import serve_images

KEY = {"api_key": TEST_KEY}
BARE = "/{project}/{version}"
PREDICTION_STAGES = ("decode", "preprocess", "queue", "inference", "postprocess")


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def series(text: str, name: str) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


@asynccontextmanager
async def app_serving(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """conftest's `serving`, also yielding the app (its batchers count their runs)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client,
    ):
        yield app, client


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")  # no API key
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_status_and_model(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    async with serving(settings_for(model_dir)) as client:
        for _ in range(2):
            assert (await client.post("/det/1", params=KEY, content=jpeg_bytes)).is_success
        assert (await client.post("/detect/det/1", params=KEY, content=jpeg_bytes)).is_success
        assert (await client.post("/classify//cls/1", params=KEY, content=jpeg_bytes)).is_success
        assert (await client.post("/det/1", content=jpeg_bytes)).status_code == 401
        assert (await client.post("/det/1", params=KEY, content=b"!!")).status_code == 400
        assert (await client.post("/nope/1", params=KEY, content=jpeg_bytes)).status_code == 404
        assert (await client.get("/a/b/c/d/e")).status_code == 404
        text = await scrape(client)

    requests = "gateway_requests_total"
    assert value(text, requests, route=BARE, method="POST", status="200", model="det/1") == 2
    assert value(text, requests, route="/detect/{project}/{version}", model="det/1") == 1
    assert value(text, requests, route="/classify/{project}/{version}", model="cls/1") == 1
    # Refused before the model was looked up: no model; after it: the model.
    assert value(text, requests, route=BARE, status="401", model="") == 1
    assert value(text, requests, route=BARE, status="400", model="det/1") == 1
    assert value(text, requests, route=BARE, status="404", model="") == 1  # never "nope/1"
    assert value(text, requests, route="unmatched", method="GET", status="404", model="") == 1
    assert value(text, requests) == 8
    routes = {labels["route"] for labels in series(text, requests)}
    assert routes == {BARE, "/detect/{project}/{version}", "/classify/{project}/{version}"} | {
        "unmatched"
    }
    assert "nope/1" not in text
    assert TEST_KEY not in text
    duration = "gateway_request_duration_seconds_count"
    assert value(text, duration, route=BARE, model="det/1") == 3  # two 200s and the 400
    assert value(text, "gateway_request_duration_seconds_bucket", le="+Inf") == 8


async def test_stages_and_batches_add_up_to_the_predictions(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    images = {"/a.jpg": jpeg_bytes}
    with serve_images(images) as server:
        async with app_serving(settings_for(model_dir)) as (app, client):
            # Eight concurrent requests (they batch), one request of three images, one URL.
            statuses = await asyncio.gather(
                *(client.post("/det/1", params=KEY, content=jpeg_bytes) for _ in range(8))
            )
            item = {"type": "base64", "value": base64.b64encode(jpeg_bytes).decode()}
            body = {"model_id": "det/1", "api_key": TEST_KEY, "image": [item] * 3}
            many = await client.post("/infer/object_detection", json=body)
            fetched = await client.post("/det/1", params={**KEY, "image": f"{server}/a.jpg"})
            text = await scrape(client)
            batch_sizes = app.state.gateway.pipeline.batchers["det/1"].batch_sizes
    assert all(r.status_code == 200 for r in statuses)
    assert many.status_code == 200
    assert len(many.json()) == 3
    assert fetched.status_code == 200

    predictions = 8 + 3 + 1
    for stage in PREDICTION_STAGES:
        assert value(text, "gateway_stage_seconds_count", stage=stage, model="det/1") == predictions
    assert value(text, "gateway_stage_seconds_count", stage="fetch", model="det/1") == 1
    assert value(text, "gateway_stage_seconds_sum", stage="inference", model="det/1") > 0
    runs = sum(batch_sizes.values())
    assert sum(size * n for size, n in batch_sizes.items()) == predictions
    assert value(text, "gateway_batch_size_sum", model="det/1") == predictions
    assert value(text, "gateway_batch_size_count", model="det/1") == runs
    assert runs < predictions  # concurrent images did share runs
    assert value(text, "gateway_batch_size_bucket", model="det/1", le="1.0") == batch_sizes[1]
    assert value(text, "gateway_batch_size_count", model="cls/1") == 0
    assert value(text, "gateway_queue_depth", model="det/1") == 0


async def test_loaded_models_and_inflight_requests(model_dir: Path) -> None:
    async with serving(settings_for(model_dir)) as client:
        text = await scrape(client)
    loaded = series(text, "gateway_model_loaded")
    assert sorted((s["model"], s["task"], s["provider"]) for s in loaded) == [
        ("cls/1", "classify", "cpu"),
        ("det/1", "detect", "cpu"),
        ("seg/1", "instance", "cpu"),
        ("sem/1", "semantic", "cpu"),
    ]
    assert value(text, "gateway_model_loaded") == 4
    assert {s["model"] for s in series(text, "gateway_queue_depth")} == {
        "cls/1",
        "det/1",
        "sem/1",
        "seg/1",
    }
    assert value(text, "gateway_inflight_requests") == 1  # the scrape itself


async def test_requests_refused_for_load_are_counted(model_dir: Path, jpeg_bytes: bytes) -> None:
    settings = settings_for(model_dir, max_inflight=1)
    with serve_images({"/a.jpg": jpeg_bytes}) as server:
        async with app_serving(settings) as (app, client):
            slow = asyncio.create_task(
                client.post("/det/1", params={**KEY, "image": f"{server}/slow/0.5/a.jpg"})
            )
            await asyncio.sleep(0.2)
            refused = await client.post("/det/1", params=KEY, content=jpeg_bytes)
            not_ready = await client.get("/readyz")  # a 503 that refuses no work
            app.state.gateway.metrics.rejected("rate")  # as the per-key limits report theirs
            answered = await slow
            text = await scrape(client)
    assert refused.status_code == 503
    assert not_ready.status_code == 503
    assert answered.status_code == 200
    assert value(text, "gateway_requests_total", route=BARE, status="503") == 1
    assert value(text, "gateway_requests_total", route="/readyz", status="503") == 1
    assert value(text, "gateway_rejections_total", reason="inflight") == 1  # the 503
    assert value(text, "gateway_rejections_total", reason="rate") == 1
    assert value(text, "gateway_rejections_total") == 2
    assert value(text, "gateway_stage_seconds_count", stage="fetch", model="det/1") == 1
    assert value(text, "gateway_stage_seconds_sum", stage="fetch", model="det/1") >= 0.5


async def test_a_limit_that_counts_its_own_refusal_is_not_counted_twice() -> None:
    metrics = Metrics()

    async def busy(request: Request) -> Response:
        metrics.rejected("concurrency")
        return Response("busy", 503)

    app = ObservedApp(metrics, routes=[Route("/busy", busy)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/busy")).status_code == 503
    text = metrics.exposition()[0].decode()
    assert value(text, "gateway_rejections_total") == 1
    assert value(text, "gateway_rejections_total", reason="concurrency") == 1


async def test_unhandled_errors_are_counted_and_get_a_request_id() -> None:
    metrics = Metrics()

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = ObservedApp(metrics, routes=[Route("/boom", boom)], exception_handlers={
        Exception: internal_error
    })  # fmt: skip
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500"
    text = metrics.exposition()[0].decode()
    assert value(text, "gateway_requests_total", route="/boom", status="500") == 1
    assert value(text, "gateway_inflight_requests") == 0


async def test_request_ids_are_echoed_or_generated(model_dir: Path, jpeg_bytes: bytes) -> None:
    async with serving(settings_for(model_dir)) as client:
        echoed = await client.post(
            "/det/1", params=KEY, content=jpeg_bytes, headers={"X-Request-ID": "lb-1.2:3_a-B"}
        )
        generated = await client.post("/det/1", params=KEY, content=jpeg_bytes)
        refused = await client.post("/det/1", content=jpeg_bytes, headers={"X-Request-ID": "x"})
        unmatched = await client.get("/a/b/c/d/e")
        insane = [
            await client.get("/healthz", headers={"X-Request-ID": bad})
            for bad in ("has space", "a" * 129, "semi;colon", "")
        ]
    assert echoed.headers["x-request-id"] == "lb-1.2:3_a-B"
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "x"
    ids = [r.headers["x-request-id"] for r in (generated, unmatched, *insane)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len(echoed.headers.get_list("x-request-id")) == 1


def test_metrics_add_up_over_worker_processes(
    model_dir: Path, jpeg_bytes: bytes, tmp_path: Path
) -> None:
    """`gateway serve` with two workers: whichever answers /metrics counts every request."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "2",
        "GATEWAY_CONFIG": str(model_dir / "models.yaml"),
        "GATEWAY_KEYS_FILE": "",
        "GATEWAY_API_KEYS": TEST_KEY,
        "GATEWAY_TASK_DB": str(tmp_path / "tasks.db"),
        "GATEWAY_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    command = [str(ROOT / ".venv" / "bin" / "gateway"), "serve"]
    sent = 16

    def predict(_: int) -> int:
        # A connection of its own each: the two workers accept them in turn as they can.
        return httpx.post(
            f"http://127.0.0.1:{port}/det/1", params=KEY, content=jpeg_bytes
        ).status_code

    with running_gateway(command, env, port, log) as base:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(predict, range(sent)))
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(6)]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert statuses == [200] * sent
    for text in scrapes:
        assert (
            value(text, "gateway_requests_total", route=BARE, status="200", model="det/1") == sent
        )
        assert value(text, "gateway_batch_size_sum", model="det/1") == sent
        assert value(text, "gateway_stage_seconds_count", stage="decode", model="det/1") == sent
        assert value(text, "gateway_model_loaded", model="det/1") == 1  # not one per worker
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert len([a for a in access if a["path"] == "/det/1"]) == sent
    assert all(a["request_id"] and a["route"] for a in access)
    assert not any(line["logger"] == "hypercorn.access" for line in lines)
    directory = next(
        Path(line["message"].rsplit(" ", 1)[1])
        for line in lines
        if line["message"].startswith("the workers' metrics are collected in")
    )
    assert not directory.exists()  # the parent removed it when it stopped
