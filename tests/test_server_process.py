"""A real `gateway serve` process on 127.0.0.1, started as the README starts it,
called with the seed documents' snippets (curl) and with plain HTTP."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import cv2
import httpx
import numpy as np
import pytest

from tests.imageserver import serve_images

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "examples" / "scene-1.jpg"
TRUTH = json.loads((ROOT / "models" / "examples" / "scene-1.json").read_text())
DEMO_KEY = "local-demo-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"gateway serve exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gateway serve not ready in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "local demo API key is active" in log.read_text()


def curl(command: str) -> bytes:
    """Run a seed-document shell snippet as it would be pasted."""
    done = subprocess.run(["bash", "-c", command], capture_output=True, check=True, timeout=60)
    return done.stdout


def best_iou(box: list[float], truths: list[list[float]]) -> float:
    x1, y1, x2, y2 = box
    best = 0.0
    for tx1, ty1, tx2, ty2 in truths:
        iw = max(0.0, min(x2, tx2) - max(x1, tx1))
        ih = max(0.0, min(y2, ty2) - max(y1, ty1))
        inter = iw * ih
        union = (x2 - x1) * (y2 - y1) + (tx2 - tx1) * (ty2 - ty1) - inter
        best = max(best, inter / union if union else 0.0)
    return best


def assert_matches_truth(body: dict[str, object]) -> None:
    """Every prediction lands on a true object of its class, in original pixels."""
    assert body["image"] == {"width": TRUTH["width"], "height": TRUTH["height"]}
    predictions = body["predictions"]
    assert isinstance(predictions, list)
    assert len(predictions) == len(TRUTH["objects"])
    for p in predictions:
        box = [p["x"] - p["width"] / 2, p["y"] - p["height"] / 2]
        box += [box[0] + p["width"], box[1] + p["height"]]
        same_class = [o["box"] for o in TRUTH["objects"] if o["class"] == p["class"]]
        assert best_iou(box, same_class) > 0.8, p


def test_seed_curl_forms(server: str) -> None:
    url = f"{server}/outline/shapes-seg/1?api_key={DEMO_KEY}"
    piped = json.loads(curl(f'base64 {EXAMPLE} | curl -s -d @- "{url}"'))
    assert_matches_truth(piped)
    assert all(len(p["points"]) >= 3 for p in piped["predictions"])
    binary = json.loads(curl(f'base64 {EXAMPLE} | curl -s --data-binary @- "{url}"'))
    assert_matches_truth(binary)
    detect = json.loads(
        curl(
            f'base64 {EXAMPLE} | curl -s -d @- "{server}/detect/shapes-detect/1?api_key={DEMO_KEY}"'
        )
    )
    assert_matches_truth(detect)


def test_image_url_and_format_image(server: str, tmp_path: Path) -> None:
    with serve_images({"/scene.jpg": EXAMPLE.read_bytes()}) as images:
        encoded = quote(f"{images}/scene.jpg", safe="")
        body = json.loads(
            curl(f'curl -s -X POST "{server}/shapes-detect/1?api_key={DEMO_KEY}&image={encoded}"')
        )
    assert_matches_truth(body)
    out = tmp_path / "prediction.jpg"
    curl(
        f"base64 {EXAMPLE} | curl -s -d @- -o {out} "
        f'"{server}/outline/shapes-seg/1?api_key={DEMO_KEY}&format=image&labels=true"'
    )
    drawn = cv2.imread(str(out))
    assert drawn.shape[:2] == (TRUTH["height"], TRUTH["width"])


def test_plain_http_clients(server: str) -> None:
    data = EXAMPLE.read_bytes()
    key = {"api_key": DEMO_KEY}
    # Python requests / Node axios style: base64 text, form-urlencoded content type.
    form = httpx.post(
        f"{server}/shapes-detect/1",
        params={**key, "name": "YOUR_IMAGE.jpg"},
        content=base64.b64encode(data),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_matches_truth(form.json())
    multipart = httpx.post(
        f"{server}/shapes-detect/1", params=key, files={"file": ("scene.jpg", data, "image/jpeg")}
    )
    assert_matches_truth(multipart.json())
    semantic = httpx.post(
        f"{server}/segment/shapes-semantic/1", params=key, content=base64.b64encode(data)
    )
    mask_png = base64.b64decode(semantic.json()["segmentation_mask"])
    mask = cv2.imdecode(np.frombuffer(mask_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (TRUTH["height"], TRUTH["width"])
    assert set(np.unique(mask).tolist()) <= {0, 1, 2, 3, 4}


def test_malformed_input_never_takes_the_server_down(server: str) -> None:
    key = {"api_key": DEMO_KEY}
    cases = [
        ("/shapes-detect/1", b"", 400),
        ("/shapes-detect/1", b"!!!!", 400),
        ("/shapes-detect/1", base64.b64encode(EXAMPLE.read_bytes()[:5000]), 400),
        ("/nope/1", b"x", 404),
        ("/outline/shapes-detect/1", b"x", 400),
    ]
    for path, body, status in cases:
        response = httpx.post(server + path, params=key, content=body)
        assert response.status_code == status, path
        assert response.json()["message"]
    assert httpx.post(f"{server}/shapes-detect/1", content=b"x").status_code == 401
    assert httpx.get(f"{server}/healthz").status_code == 200
