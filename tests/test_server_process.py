"""A real `gateway serve` process on 127.0.0.1, started as the README starts it,
called with the seed documents' snippets (curl) and with plain HTTP."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import cv2
import httpx
import numpy as np

from tests.conftest import DEMO_KEY
from tests.imageserver import serve_images
from tests.truth import EXAMPLE, TRUTH, assert_matches_truth


def curl(command: str) -> bytes:
    """Run a seed-document shell snippet as it would be pasted."""
    done = subprocess.run(["bash", "-c", command], capture_output=True, check=True, timeout=60)
    return done.stdout


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
