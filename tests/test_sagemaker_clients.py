"""boto3's sagemaker-runtime client and the AWS CLI against `gateway serve --sagemaker`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.truth import EXAMPLE, TRUTH, best_iou

AWS = ROOT / ".venv-clients" / "aws" / "bin"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def require_aws() -> None:
    if not (AWS / "python").exists():
        pytest.fail(f"{AWS} is missing: run scripts/client-venvs (scripts/test does)")


def assert_seed_json(body: dict[str, object]) -> None:
    """{"labels": ["class NN%"], "boxes": [[x1, y1, x2, y2]]}, best first, on the objects."""
    labels, boxes = body["labels"], body["boxes"]
    assert isinstance(labels, list)
    assert isinstance(boxes, list)
    assert len(labels) == len(boxes) >= len(TRUTH["objects"])
    scores = [int(label.rsplit(" ", 1)[1].rstrip("%")) for label in labels]
    assert scores == sorted(scores, reverse=True)
    for truth in TRUTH["objects"]:
        same = [
            b
            for b, label in zip(boxes, labels, strict=True)
            if label.startswith(truth["class"] + " ")
        ]
        assert best_iou(truth["box"], same) > 0.8, truth


def test_boto3_invoke_endpoint(sagemaker_server: str, tmp_path: Path) -> None:
    require_aws()
    done = subprocess.run(
        [str(AWS / "python"), str(ROOT / "tests/clients/sagemaker_snippet.py"),
         sagemaker_server, str(EXAMPLE), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **DUMMY_AWS},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["json_content_type"] == "application/json"
    assert_seed_json(report["json"])
    original = cv2.imread(str(EXAMPLE))
    for accept in ("image/jpeg", "image/png"):
        assert report[accept]["content_type"] == accept
        rendered = cv2.imread(report[accept]["path"])
        assert rendered.shape == original.shape
        # The blended masks change a good share of each true object's box.
        diff = np.abs(rendered.astype(int) - original.astype(int)).max(axis=2)
        for truth in TRUTH["objects"]:
            x1, y1, x2, y2 = truth["box"]
            changed = float((diff[y1:y2, x1:x2] > 20).mean())
            assert changed > 0.3, (truth, changed)
    assert report["error"]["code"] == 415
    assert "Content-Type must be image/jpeg or image/png" in report["error"]["message"]


def test_aws_cli_invoke_endpoint(sagemaker_server: str, tmp_path: Path) -> None:
    require_aws()
    out = tmp_path / "out.json"
    done = subprocess.run(
        [str(AWS / "aws"), "sagemaker-runtime", "invoke-endpoint",
         "--endpoint-url", sagemaker_server, "--endpoint-name", "my-instance-segmentation",
         "--accept", "application/json", "--content-type", "image/jpeg",
         "--body", f"fileb://{EXAMPLE}", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **DUMMY_AWS},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["ContentType"] == "application/json"
    assert_seed_json(json.loads(out.read_text()))


def test_ping_answers_quickly_under_load(sagemaker_server: str) -> None:
    payload = EXAMPLE.read_bytes()
    headers = {"Content-Type": "image/jpeg", "Accept": "image/png"}

    def invoke(_: int) -> int:
        response = httpx.post(
            f"{sagemaker_server}/invocations", content=payload, headers=headers, timeout=60
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        load = pool.map(invoke, range(48))
        time.sleep(0.3)
        pings = []
        for _ in range(5):
            started = time.perf_counter()
            assert httpx.get(f"{sagemaker_server}/ping", timeout=2).status_code == 200
            pings.append(time.perf_counter() - started)
        statuses = list(load)
    assert max(pings) < 2.0
    assert set(statuses) <= {200, 503}
    assert 200 in statuses
