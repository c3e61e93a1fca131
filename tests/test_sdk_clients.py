"""The real client packages, unmodified, against a real `gateway serve` on 127.0.0.1.

They live in their own virtualenvs (scripts/client-venvs), since their pins clash
with the gateway's; each runs a snippet from tests/clients and reports JSON back.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import DEMO_KEY, ROOT
from tests.imageserver import serve_images
from tests.truth import EXAMPLE, EXAMPLES, TRUTH, assert_predictions_match_truth

CROP = EXAMPLES / "crop-circle.jpg"
CLIENTS = ROOT / "tests" / "clients"


def run_client(venv: str, script: str, args: list[str], env: dict[str, str]) -> Any:
    python = ROOT / ".venv-clients" / venv / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run scripts/client-venvs (scripts/test does)")
    done = subprocess.run(
        [str(python), str(CLIENTS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hosted() -> Iterator[str]:
    files = {"/scene-1.jpg": EXAMPLE.read_bytes(), "/crop-circle.jpg": CROP.read_bytes()}
    with serve_images(files) as base:
        yield base


def drawn_on(path: str) -> bool:
    """The saved image is the example with something drawn over it."""
    saved = cv2.imread(path)
    original = cv2.imread(str(EXAMPLE))
    return saved.shape == original.shape and bool(
        (np.abs(saved.astype(int) - original.astype(int)).max(axis=2) > 60).sum() > 200
    )


@pytest.mark.parametrize("venv", ["latest", "rf11"])
def test_roboflow_sdk(server: str, hosted: str, venv: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),  # no ~/.config/roboflow of the machine's user
        "API_URL": server,
        "OBJECT_DETECTION_URL": server,
        "INSTANCE_SEGMENTATION_URL": server,
        "SEMANTIC_SEGMENTATION_URL": server,
        "SERVERLESS_URL": server,  # 1.7.x classification
    }
    args = [
        DEMO_KEY, str(EXAMPLE), str(CROP), f"{hosted}/scene-1.jpg", f"{hosted}/crop-circle.jpg",
        str(tmp_path), f"{server}/",
    ]  # fmt: skip
    report = run_client(venv, "roboflow_snippet.py", args, env)
    assert report["sdk"].startswith("1.7." if venv == "latest" else "1.1.")
    assert report["workspace"] == "gateway"
    for key in ("detect", "detect_hosted", "instance", "instance_hosted"):
        assert_predictions_match_truth(report[key]["predictions"])
    assert all(len(p["points"]) >= 3 for p in report["instance"]["predictions"])
    (semantic,) = report["semantic"]["predictions"]
    mask_png = np.frombuffer(base64.b64decode(semantic["segmentation_mask"]), np.uint8)
    mask = cv2.imdecode(mask_png, cv2.IMREAD_UNCHANGED)
    assert mask.shape == (TRUTH["height"], TRUTH["width"])
    truth_classes = {
        1 + ["circle", "triangle", "square", "star"].index(o["class"]) for o in TRUTH["objects"]
    }
    assert set(np.unique(mask).tolist()) - {0} == truth_classes
    for key in ("classify", "classify_hosted"):
        (top,) = [report[key]["predictions"][0]["top"]]
        assert top == "circle"
    for key in ("detect_saved", "instance_saved", "semantic_saved"):
        assert drawn_on(report[key]), key
    assert Path(report["classify_saved"]).exists()


def test_inference_sdk(server: str) -> None:
    scene_2 = EXAMPLES / "scene-2.jpg"
    args = [server, DEMO_KEY, str(EXAMPLE), str(scene_2), str(CROP)]
    report = run_client("latest", "inference_snippet.py", args, dict(os.environ))
    assert report["sdk"] == "1.8.3"
    assert report["info"]["name"] == "vision-gateway"
    assert "shapes-detect/1" in report["registry"]
    for key in ("v1_detect", "v1_instance", "v0_detect", "v0_instance"):
        assert_predictions_match_truth(report[key]["predictions"])
    assert report["v1_instance"]["predictions"][0]["points"]
    for key in ("v1_classify", "v0_classify"):
        assert report[key]["top"] == "circle"
    mask_png = np.frombuffer(base64.b64decode(report["v0_semantic"]["segmentation_mask"]), np.uint8)
    assert cv2.imdecode(mask_png, cv2.IMREAD_UNCHANGED).shape == (TRUTH["height"], TRUTH["width"])
    listed, batched = report["v1_list"], report["v1_batched"]
    assert len(listed) == 2
    assert len(batched) == 3
    assert_predictions_match_truth(listed[0]["predictions"])

    # The same image twice in one batch gives the same boxes.
    def boxes(result: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
        return [
            (p["class"], p["x"], p["y"], p["width"], p["height"]) for p in result["predictions"]
        ]

    assert boxes(batched[0]) == boxes(batched[2])
    assert_predictions_match_truth(batched[0]["predictions"])
