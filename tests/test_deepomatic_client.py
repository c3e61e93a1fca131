"""The unmodified deepomatic-api client against a real `gateway serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import DEMO_KEY, ROOT
from tests.imageserver import serve_images
from tests.truth import EXAMPLE, EXAMPLES, TRUTH, best_iou

PYTHON = ROOT / ".venv-clients" / "deepomatic" / "bin" / "python"


@pytest.fixture(scope="module")
def hosted() -> Iterator[str]:
    with serve_images({"/scene-1.jpg": EXAMPLE.read_bytes()}) as base:
        yield base


def assert_on_truth(result: dict[str, Any]) -> None:
    """Every true object predicted with its class; every prediction on a true object."""
    predicted = result["outputs"][0]["labels"]["predicted"]
    width, height = TRUTH["width"], TRUTH["height"]
    boxes = []
    for item in predicted:
        b = item["roi"]["bbox"]
        boxes.append([b["xmin"] * width, b["ymin"] * height, b["xmax"] * width, b["ymax"] * height])
        assert item["score"] >= item["threshold"]
    for truth in TRUTH["objects"]:
        same = [
            box
            for box, p in zip(boxes, predicted, strict=True)
            if p["label_name"] == truth["class"]
        ]
        assert best_iou(truth["box"], same) > 0.8, truth
    for box in boxes:
        assert best_iou(box, [o["box"] for o in TRUTH["objects"]]) > 0.5
    assert result["outputs"][0]["labels"]["discarded"] is not None


def test_deepomatic_client(server: str, hosted: str) -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run scripts/client-venvs (scripts/test does)")
    env = {**os.environ, "DEEPOMATIC_API_URL": server, "DEEPOMATIC_API_KEY": DEMO_KEY}
    args = [f"{hosted}/scene-1.jpg", str(EXAMPLE), str(EXAMPLES / "crop-circle.jpg")]
    done = subprocess.run(
        [str(PYTHON), str(ROOT / "tests/clients/deepomatic_snippet.py"), *args],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert "shapes-detect-v1" in report["public"]
    assert "shapes-cls-v1" in report["public"]
    assert "shapes-semantic-v1" not in report["public"]
    assert report["labels"] == [
        {"id": 0, "name": "circle"},
        {"id": 1, "name": "triangle"},
        {"id": 2, "name": "square"},
        {"id": 3, "name": "star"},
    ]
    for key in ("url", "file", "bytes"):
        assert_on_truth(report[key])

    # URL, file and bytes carry the same JPEG: the same predictions.
    def scores(key: str) -> list[tuple[str, float]]:
        labels = report[key]["outputs"][0]["labels"]
        return [(p["label_name"], p["score"]) for p in labels["predicted"] + labels["discarded"]]

    assert scores("url") == scores("file") == scores("bytes")
    assert report["task"]["status"] == "success"
    top = report["classify"]["outputs"][0]["labels"]["predicted"][0]
    assert top["label_name"] == "circle"
