"""Structured logs: JSON lines, the access log, request ids, and no secrets in any line."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import context
from gateway.errors import ConfigError
from gateway.logs import configure_logging, log_format_from_env, log_handler
from gateway.metrics import Metrics
from gateway.observe import ObservedApp
from gateway.settings import Settings
from tests.conftest import TEST_KEY, serving, settings_for
from tests.imageserver import serve_images

KEY = {"api_key": TEST_KEY}


class NotTheTestClient(logging.Filter):
    """The test's own httpx client logs the URLs it calls, keys included: not the gateway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(("httpx", "httpcore")) and not hasattr(
            record, "request_id"
        ))  # fmt: skip


@contextmanager
def captured(log_format: str, level: int = logging.INFO) -> Iterator[io.StringIO]:
    """Everything logged meanwhile, written by the gateway's own handler."""
    stream = io.StringIO()
    handler = log_handler(log_format, stream)
    handler.addFilter(NotTheTestClient())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_the_access_log_is_json_with_the_request_id(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    with captured("json") as stream:
        async with serving(settings_for(model_dir)) as client:
            response = await client.post(
                "/detect/det/1",
                params={**KEY, "confidence": "40"},
                content=jpeg_bytes,
                headers={"X-Request-ID": "trace-42", "User-Agent": "tests/1.0"},
            )
            missing = await client.post("/nope/1", params=KEY, content=jpeg_bytes)
    assert response.status_code == 200
    lines = json_lines(stream)
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"]) for line in lines
    )
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert len(access) == 2
    first, second = access
    assert first == {
        **first,
        "level": "INFO",
        "request_id": "trace-42",
        "method": "POST",
        "path": "/detect/det/1",  # no query string
        "route": "/detect/{project}/{version}",
        "status": 200,
        "model": "det/1",
        "remote": "127.0.0.1",
        "user_agent": "tests/1.0",
        "bytes": len(response.content),
    }
    assert first["client"] == "env-0"  # the name of the key (GATEWAY_API_KEYS' first)
    assert first["message"].startswith("POST /detect/det/1 200 ")
    assert 0 < first["duration_ms"] < 10_000
    assert second["status"] == 404
    assert second["request_id"] == missing.headers["x-request-id"]
    assert second["model"] == ""


async def test_every_line_logged_while_handling_a_request_carries_its_id(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    """The gateway's image fetch logs through httpx while the request is handled."""
    with serve_images({"/a.jpg": jpeg_bytes}) as images, captured("json") as stream:
        async with serving(settings_for(model_dir)) as client:
            response = await client.post(
                "/det/1",
                params={**KEY, "image": f"{images}/a.jpg"},
                headers={"X-Request-ID": "fetch-1"},
            )
    assert response.status_code == 200
    lines = json_lines(stream)
    fetch = [line for line in lines if line["logger"] == "httpx"]
    assert fetch
    assert all(line["request_id"] == "fetch-1" for line in fetch)
    assert not [line for line in lines if line.get("request_id") not in (None, "fetch-1")]


async def test_request_ids_reach_worker_threads_and_the_client_name_the_access_log() -> None:
    log = logging.getLogger("gateway.test")

    async def handler(request: Request) -> Response:
        context.note_client("mobile-app")
        await anyio.to_thread.run_sync(log.warning, "from a worker thread")
        return Response("ok")

    app = ObservedApp(Metrics(), routes=[Route("/work", handler)])
    transport = httpx.ASGITransport(app=app)
    with captured("json") as stream:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/work?api_key=secret-in-query")
        log.warning("outside any request")
    lines = {line["message"]: line for line in json_lines(stream)}
    request_id = response.headers["x-request-id"]
    assert lines["from a worker thread"]["request_id"] == request_id
    assert "request_id" not in lines["outside any request"]
    access = next(line for line in lines.values() if line["logger"] == "gateway.access")
    assert access["client"] == "mobile-app"
    assert access["path"] == "/work"
    assert "secret-in-query" not in stream.getvalue()


async def test_the_text_format_still_works(model_dir: Path, jpeg_bytes: bytes) -> None:
    with captured("text") as stream:
        async with serving(settings_for(model_dir)) as client:
            await client.post(
                "/det/1", params=KEY, content=jpeg_bytes, headers={"X-Request-ID": "plain-1"}
            )
            await client.get("/x%0AINFO gateway.access: GET /forged 200")
    access = [line for line in stream.getvalue().splitlines() if "gateway.access" in line]
    assert len(access) == 2  # a newline decoded into the path does not start a line
    assert re.fullmatch(r"INFO gateway\.access: POST /det/1 200 [\d.]+ ms \[plain-1\]", access[0])
    assert access[1].startswith("INFO gateway.access: GET /x%0AINFO gateway.access: GET /forged")


async def test_no_key_and_no_image_data_in_any_log_line(model_dir: Path, jpeg_bytes: bytes) -> None:
    encoded = base64.b64encode(jpeg_bytes)
    header_key = "header-key-5c1e2f"  # configured below, like the query's key
    settings = settings_for(model_dir, api_keys=f"{TEST_KEY},{header_key}")
    with captured("json", logging.DEBUG) as stream:
        async with serving(settings) as client:
            for params, headers in (
                (KEY, {}),
                ({}, {"Authorization": f"Bearer {header_key}"}),
                (KEY, {"Authorization": f"Bearer {header_key}", "X-API-KEY": header_key}),
            ):
                ok = await client.post("/det/1", params=params, content=encoded, headers=headers)
                assert ok.status_code == 200
            bad_image = await client.post("/det/1", params=KEY, content=encoded[:3000])
            assert bad_image.status_code == 400
            image = {"type": "base64", "value": encoded.decode()}
            body = {"model_id": "det/1", "api_key": header_key, "image": image}
            in_body = await client.post("/infer/object_detection", json=body)
            assert in_body.status_code == 200
    logged = stream.getvalue()
    assert "gateway.access" in logged
    for secret in (TEST_KEY, header_key):
        assert secret not in logged
    for chunk in (encoded[:40], encoded[1000:1040], encoded[-40:]):
        assert chunk.decode() not in logged
    assert "api_key" not in logged


def test_the_log_format_setting() -> None:
    assert Settings().log_format == "json"
    assert Settings.from_env({"GATEWAY_LOG_FORMAT": " Text "}).log_format == "text"
    with pytest.raises(ConfigError, match="GATEWAY_LOG_FORMAT"):
        Settings.from_env({"GATEWAY_LOG_FORMAT": "xml"})


def test_configure_logging_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LOG_FORMAT", "text")
    assert log_format_from_env() == "text"
    monkeypatch.setenv("GATEWAY_LOG_FORMAT", "nonsense")
    assert log_format_from_env() == "json"  # the settings refuse it with a message
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("text")
        configure_logging("json")  # replaces, does not add
        ours = [h for h in root.handlers if h not in saved[0]]
        assert len(ours) == 1
        assert type(ours[0].formatter).__name__ == "JsonFormatter"
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
