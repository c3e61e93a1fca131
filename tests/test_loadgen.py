"""benchmarks/loadgen.py: short loads against the test gateway, and its HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from benchmarks.http1 import Connection, ServerClosed, read_response
from benchmarks.loadgen import Form, LoadConfig, LoadResult, main, predictions_in, run_load
from tests.conftest import DEMO_KEY

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "models" / "examples" / "scene-1.jpg"  # the shapes-detect model sees shapes


def short_load(**options: object) -> LoadConfig:
    base: dict[str, object] = {
        "model": "shapes-detect/1",
        "image": SCENE,
        "api_key": DEMO_KEY,
        "concurrency": 2,
        "duration": 2.0,
        "warmup": 0.3,
        "timeout": 30.0,
    }
    return LoadConfig(**{**base, **options})  # type: ignore[arg-type]


def assert_clean(result: LoadResult) -> None:
    assert result.errors == {}, result.error_samples
    assert result.requests_ok > 0
    assert result.sent == result.requests_ok
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.requests_per_s == pytest.approx(result.requests_ok / result.duration_s, rel=0.01)
    assert result.predictions is not None
    assert result.predictions > 0
    assert 0 < result.client_cores <= (os.cpu_count() or 1)
    assert result.client_cpu_percent == pytest.approx(
        100 * result.client_cores / (os.cpu_count() or 1), abs=0.2
    )
    assert not result.failed


@pytest.mark.parametrize("form", ["base64", "multipart", "url"])
async def test_closed_loop_each_form(server: str, form: Form) -> None:
    result = await run_load(short_load(form=form), server)
    assert_clean(result)
    assert result.mode == "closed"
    assert result.dropped == 0
    assert 2.0 <= result.duration_s < 2.0 + 5  # up to the last answer
    assert result.memory is None


async def test_open_loop_keeps_the_schedule(server: str) -> None:
    """20 arrivals per second for 2 s: about 40 requests, latency from the schedule."""
    result = await run_load(short_load(rate=20.0, concurrency=4), server)
    assert_clean(result)
    assert result.mode == "open"
    assert 30 <= result.sent <= 50
    assert result.sent + result.dropped in (39, 40, 41)  # every arrival is sent or dropped


def test_cli_request_count_json_and_memory(server: str, tmp_path: Path) -> None:
    """--requests stops after that many measured requests; --pid samples a process's RSS
    (this one's, the test gateway's pid being unknown here)."""
    report = tmp_path / "load.json"
    argv = ["--url", server, "--image", str(SCENE), "--form", "raw", "--requests", "12"]
    argv += ["--warmup", "0", "--concurrency", "2", "--json", str(report)]
    argv += ["--pid", str(os.getpid()), "--sample-every", "0.1", "--api-key", DEMO_KEY]
    assert main(argv) == 0
    written = orjson.loads(report.read_bytes())
    assert written["ok"] is True
    assert written["sent"] == written["requests_ok"] == 12
    assert written["errors"] == {}
    assert written["memory"]["pid"] == os.getpid()
    assert written["memory"]["samples"]
    assert written["memory"]["max_kb"] >= written["memory"]["last_kb"] > 0


def fed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_read_response_chunked_length_and_close() -> None:
    reader = fed(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7;ext=1\r\n{"predi\r\n'
        b'f\r\nctions": [1, 2]\r\n'
        b"1\r\n}\r\n"
        b"0\r\nX-Trailer: yes\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nConnection: close\r\n\r\n"
        b"try later"
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
        b"until the end"
    )
    chunked = await read_response(reader)
    assert (chunked.status, chunked.keep_alive) == (200, True)
    assert chunked.body == b'{"predictions": [1, 2]}'
    assert predictions_in(chunked.body) == 2
    closing = await read_response(reader)
    assert (closing.status, closing.body, closing.keep_alive) == (503, b"try later", False)
    to_eof = await read_response(reader)
    assert (to_eof.status, to_eof.body, to_eof.keep_alive) == (200, b"until the end", False)
    with pytest.raises(ServerClosed):
        await read_response(reader)
    assert predictions_in(b'{"predictions": {}}') is None
    assert predictions_in(b"[]") is None


async def test_connection_reopens_after_connection_close() -> None:
    """A server that closes after each answer: every request gets its own connection."""
    accepted = 0

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = Connection("127.0.0.1", port)
    try:
        for _ in range(3):
            response = await connection.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (response.status, response.body, response.keep_alive) == (200, b"{}", False)
    finally:
        connection.close()
        server.close()
        await server.wait_closed()
    assert accepted == 3
