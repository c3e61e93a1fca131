"""API keys: stored hashed, created by the CLI, scoped to models and tasks, never echoed."""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.auth import KeyStore, key_hash, load_keys
from gateway.errors import ConfigError, Forbidden, Unauthorized
from tests.conftest import ROOT, TEST_KEY, serving, settings_for

GATEWAY = str(ROOT / ".venv" / "bin" / "gateway")


def test_keys_file_holds_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"keys:\n  - {{name: app, key_hash: '{key_hash('s3cret')}', models: [a/1]}}\n")
    store = KeyStore(load_keys(path, "env-secret"))
    assert store.authorize("s3cret", "a/1").name == "app"
    assert store.identify("env-secret").name == "env-0"
    with pytest.raises(Forbidden):
        store.authorize("s3cret", "b/1")
    with pytest.raises(Unauthorized):
        store.identify("s3cret ")
    with pytest.raises(Unauthorized):
        store.identify(key_hash("s3cret"))  # the digest itself is not a key


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: app, key: plain}", "plain 'key' is not accepted"),
        ("{name: app, key_hash: 'sha256:abc'}", "key_hash"),
        ("{name: 'bad name', key_hash: 'sha256:" + "0" * 64 + "'}", "field 'name'"),
        ("{key_hash: 'sha256:" + "0" * 64 + "'}", "field 'name'"),
        ("{name: app, key_hash: 'sha256:" + "0" * 64 + "', models: a/1}", "field 'models'"),
        ("just-a-string", "expected a mapping"),
    ],
)
def test_bad_key_entries_name_the_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"keys:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_keys(path)


def test_key_names_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    digest = key_hash("x")
    path.write_text(
        f"keys:\n  - {{name: a, key_hash: '{digest}'}}\n  - {{name: a, key_hash: '{digest}'}}\n"
    )
    with pytest.raises(ConfigError, match="repeated: a"):
        load_keys(path)


def test_cli_creates_a_key_and_stores_only_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("# operators' notes stay\nkeys:\n")
    made = subprocess.run(
        [GATEWAY, "keys", "create", "--name", "mobile", "--models", "a/1,b/2", "--file", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    secret = made.stdout.strip()
    assert secret.startswith("gw_")
    assert len(secret) > 40
    text = path.read_text()
    assert secret not in text
    assert text.startswith("# operators' notes stay\n")
    assert key_hash(secret) in text
    store = KeyStore(load_keys(path))
    assert store.authorize(secret, "b/2").name == "mobile"
    with pytest.raises(Forbidden):
        store.authorize(secret, "c/1")
    again = subprocess.run(
        [GATEWAY, "keys", "create", "--name", "mobile", "--file", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 2
    assert "already exists" in again.stderr
    hashed = subprocess.run(
        [GATEWAY, "keys", "hash"], input=secret + "\n", capture_output=True, text=True, check=True
    )
    assert hashed.stdout.strip() == key_hash(secret)


def test_the_shipped_keys_file_is_hashed() -> None:
    text = (ROOT / "configs" / "keys.yaml").read_text()
    assert "key: " not in text
    store = KeyStore(load_keys(ROOT / "configs" / "keys.yaml"))
    assert store.demo_key_active
    assert store.identify("local-demo-key").name == "local-demo"


@pytest.fixture
async def gw(model_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        settings_for(model_dir, task_db=tmp_path / "tasks.db"), "http://gw.test"
    ) as client:
        yield client


async def test_tasks_are_visible_to_the_key_that_submitted_them_only(
    gw: httpx.AsyncClient, jpeg_bytes: bytes
) -> None:
    source = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode()
    body = {"inputs": [{"image": {"source": source}}]}
    owner, other = {"X-API-KEY": TEST_KEY}, {"X-API-KEY": "scoped-key"}
    submitted = await gw.post("/v0.7/recognition/versions/1/inference", json=body, headers=owner)
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    mine = await gw.get(f"/v0.7/tasks/{task_id}/", headers=owner)
    assert mine.status_code == 200
    theirs = await gw.get(f"/v0.7/tasks/{task_id}/", headers=other)
    assert theirs.status_code == 404
    listed = await gw.get(f"/v0.7/tasks/?task_ids={task_id}", headers=other)
    assert listed.status_code == 200
    assert listed.json()["count"] == 0
    listed = await gw.get(f"/v0.7/tasks/?task_ids={task_id}", headers=owner)
    assert [t["id"] for t in listed.json()["results"]] == [task_id]


async def test_keys_are_never_echoed_or_logged(
    gw: httpx.AsyncClient, jpeg_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-3f9a1c"
    for path, headers in (
        (f"/det/1?api_key={wrong}", {}),
        ("/det/1", {"Authorization": f"Bearer {wrong}"}),
        ("/v0.7/recognition/versions/1/inference", {"X-API-KEY": wrong}),
    ):
        response = await gw.post(path, content=jpeg_bytes, headers=headers)
        assert response.status_code == 401
        assert wrong not in response.text
    forbidden = await gw.post("/sem/1?api_key=scoped-key", content=jpeg_bytes)
    assert forbidden.status_code == 403
    assert "scoped-key" not in forbidden.text
    ok = await gw.post(f"/det/1?api_key={TEST_KEY}", content=jpeg_bytes)
    assert ok.status_code == 200
    # Everything the gateway's side logged (the test's own httpx client logs its URLs).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    for secret in (wrong, "scoped-key", TEST_KEY):
        assert secret not in logged


def status_without_sending_body(base: str, request_head: str) -> int:
    """Send only the head of a request announcing a 100 MB body; the status line."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_head.encode() + b"Content-Length: 100000000\r\n\r\n")
        answer = sock.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1])


@pytest.mark.parametrize(
    "head",
    [
        "POST /detect/shapes-detect/1?api_key=nope HTTP/1.1\r\n",
        "POST /detect/shapes-detect/1 HTTP/1.1\r\n",
        "POST /v0.7/recognition/public/shapes-detect-v1/inference HTTP/1.1\r\nX-API-KEY: nope\r\n",
        "POST /human_image_segmentation?api_key=nope HTTP/1.1\r\nContent-Type: image/png\r\n",
        "POST /infer/object_detection?api_key=nope HTTP/1.1\r\nContent-Type: text/json\r\n",
    ],
)
def test_unauthenticated_requests_are_refused_before_the_body(server: str, head: str) -> None:
    """The gateway answers 401 without waiting for (or reading) the 100 MB it was promised."""
    request = head.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nHost: gw\r\n", 1)
    assert status_without_sending_body(server, request) == 401


async def test_early_errors_reach_clients_still_sending_and_keep_the_connection(
    server: str,
) -> None:
    """A 401 or 413 decided before the body is read still reaches an async client that
    is sending a large body, and the connection stays usable for the next request."""
    body = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        for _ in range(10):
            try:
                refused = await client.post("/detect/shapes-detect/1?api_key=nope", content=body)
                assert refused.status_code == 401
                assert refused.headers.get("connection") != "close"
                assert (await client.get("/healthz")).status_code == 200
            except httpx.TransportError as exc:
                errors.append(repr(exc))
    assert errors == []
