"""Deepomatic v0.7 contract (seed 004, COMPAT.md section 4) through ASGITransport."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import TEST_KEY, serving, settings_for
from tests.hostile import png_bomb

HEADERS = {"X-API-KEY": TEST_KEY}


@pytest.fixture
async def dm(model_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = tmp_path / "models.yaml"
    entries = [
        {"id": "det/1", "path": str(model_dir / "det.onnx"), "thresholds": {"square": 0.7}},
        {"id": "sem/1", "path": str(model_dir / "sem.onnx")},
        {"id": "cls/1", "path": str(model_dir / "cls.onnx")},
    ]
    config.write_text(yaml.safe_dump({"models": entries}))
    async with serving(
        settings_for(model_dir, config_path=config, task_db=tmp_path / "t.db"),
        "http://dm.test",
        headers=HEADERS,
    ) as c:
        yield c


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


async def wait(client: httpx.AsyncClient, task_id: int) -> dict[str, Any]:
    for _ in range(200):
        task = (await client.get(f"/v0.7/tasks/{task_id}/")).json()
        if task["status"] != "pending":
            return dict(task)
        await asyncio.sleep(0.02)
    raise AssertionError("the task stayed pending")


async def test_public_specs(dm: httpx.AsyncClient) -> None:
    listing = (await dm.get("/v0.7/recognition/public/", params={"public": 1})).json()
    assert listing["count"] == 2  # semantic segmentation has no v0.7 output type
    assert listing["next"] is None
    assert [s["id"] for s in listing["results"]] == ["det-v1", "cls-v1"]
    det = (await dm.get("/v0.7/recognition/public/det-v1")).json()  # no trailing slash
    assert det["outputs"][0]["labels"] == {
        "roi": "BBOX",
        "exclusive": True,
        "labels": [{"id": 0, "name": "circle"}, {"id": 1, "name": "square"}],
    }
    cls = (await dm.get("/v0.7/recognition/public/cls-v1/")).json()
    assert cls["outputs"][0]["labels"]["roi"] == "NONE"
    assert {"name", "description", "update_date"} <= set(cls)
    first = (await dm.get("/v0.7/recognition/public/", params={"offset": 0, "limit": 1})).json()
    assert first["next"].startswith("http://dm.test/v0.7/recognition/public/")
    assert "offset=1" in first["next"]
    second = (await dm.get(first["next"])).json()
    assert [s["id"] for s in second["results"]] == ["cls-v1"]


async def test_private_specs_and_versions(dm: httpx.AsyncClient) -> None:
    spec = (await dm.get("/v0.7/recognition/specs/1/")).json()
    assert (spec["id"], spec["name"]) == (1, "det-v1")
    (version,) = (await dm.get("/v0.7/recognition/specs/1/versions")).json()["results"]
    assert version == (await dm.get("/v0.7/recognition/versions/1")).json()
    image = version["preprocessing"]["inputs"][0]["image"]
    assert image["resize_type"] == "NETWORK"
    assert image["target_size"] == "320x320"
    assert (image["color_channels"], image["dimension_order"]) == ("RGB", "NCHW")
    assert image["pixel_scaling"] == 255.0
    detection = version["post_processings"][0]["detection"]
    assert detection["nms_threshold"] == 0.3
    assert detection["thresholds"] == [0.4, 0.7]
    cls_version = (await dm.get("/v0.7/recognition/versions/2/")).json()
    assert "classification" in cls_version["post_processings"][0]
    assert (await dm.get("/v0.7/recognition/versions/")).json()["count"] == 2


async def test_detection_inference_task(dm: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    body = {"inputs": [{"image": {"source": data_uri(jpeg_bytes)}}], "show_discarded": True}
    response = await dm.post("/v0.7/recognition/public/det-v1/inference", json=body)
    assert response.status_code == 200
    task_id = response.json()["task_id"]
    assert isinstance(task_id, int)
    task = await wait(dm, task_id)
    assert task["status"] == "success"
    assert task["error"] is None
    assert task["date_created"] <= task["date_updated"]
    labels = task["data"]["outputs"][0]["labels"]
    (circle,) = labels["predicted"]
    assert (circle["label_name"], circle["label_id"], circle["threshold"]) == ("circle", 0, 0.4)
    assert circle["score"] == pytest.approx(0.9, abs=1e-4)
    assert circle["roi"]["region_id"] == 1
    assert circle["roi"]["bbox"] == pytest.approx(
        {"xmin": 0.4, "ymin": 208 / 480, "xmax": 0.6, "ymax": 272 / 480}
    )
    (square,) = labels["discarded"]  # 0.6 is under its label's threshold of 0.7
    assert (square["label_name"], square["threshold"]) == ("square", 0.7)


async def test_show_discarded_max_predictions_and_regions(
    dm: httpx.AsyncClient, jpeg_bytes: bytes
) -> None:
    source = {"source": data_uri(jpeg_bytes)}

    async def labels(image: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {"inputs": [{"image": image}], **extra}
        response = await dm.post("/v0.7/recognition/specs/1/inference", json=body)
        return dict((await wait(dm, response.json()["task_id"]))["data"]["outputs"][0]["labels"])

    hidden = await labels(source)
    assert len(hidden["predicted"]) == 1
    assert hidden["discarded"] == []
    capped = await labels(source, show_discarded=True, max_predictions=1)
    assert (len(capped["predicted"]), len(capped["discarded"])) == (1, 0)
    region = {"xmin": 0.3, "ymin": 0.3, "xmax": 0.7, "ymax": 0.7}
    cropped = await labels({**source, "bbox": region})
    # The fixture finds its box at the centre of whatever it sees: the crop's centre.
    assert cropped["predicted"][0]["roi"]["bbox"] == pytest.approx(
        {"xmin": 294.4 / 640, "ymin": 227.2 / 480, "xmax": 345.6 / 640, "ymax": 252.8 / 480}
    )
    square = [
        {"x": 0.3, "y": 0.3},
        {"x": 0.7, "y": 0.3},
        {"x": 0.7, "y": 0.7},
        {"x": 0.3, "y": 0.7},
    ]
    masked = await labels({**source, "polygon": square, "crop_uniform_background": True})
    assert masked["predicted"][0]["roi"]["bbox"] == cropped["predicted"][0]["roi"]["bbox"]


async def test_classification_and_multipart(dm: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    files = {"inputs[0]image.source": ("inputs[0]image.source", jpeg_bytes)}
    fields = {"show_discarded": "True", "inputs[0]image.crop_uniform_background": "False"}
    response = await dm.post("/v0.7/recognition/versions/2/inference", files=files, data=fields)
    task = await wait(dm, response.json()["task_id"])
    labels = task["data"]["outputs"][0]["labels"]
    assert [(p["label_name"], p["score"]) for p in labels["predicted"]] == [("dog", 0.7)]
    assert [(p["label_name"], p["score"]) for p in labels["discarded"]] == [("cat", 0.3)]
    assert "roi" not in labels["predicted"][0]


async def test_tasks_list_and_errors(dm: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    good = {"inputs": [{"image": {"source": data_uri(jpeg_bytes)}}]}
    # A sound PNG header over pixel data that stops short: refused when decoded, in the task.
    cut = "data:image/png;base64," + base64.b64encode(png_bomb(64, 48)).decode()
    bad = {"inputs": [{"image": {"source": cut}}]}
    not_image = {"inputs": [{"image": {"source": "data:image/jpeg;base64,bm90IGFuIGltYWdl"}}]}
    refused = await dm.post("/v0.7/recognition/public/cls-v1/inference", json=not_image)
    assert refused.status_code == 400
    assert "not a JPEG, PNG" in refused.json()["error"]
    ids = []
    for body in (good, bad):
        response = await dm.post("/v0.7/recognition/public/cls-v1/inference", json=body)
        ids.append(response.json()["task_id"])
        await wait(dm, ids[-1])
    failed = (await dm.get(f"/v0.7/tasks/{ids[1]}")).json()
    assert failed["status"] == "error"
    assert "Could not load input image" in failed["error"]
    listing = (await dm.get("/v0.7/tasks/", params=[("task_ids", i) for i in ids])).json()
    assert [(t["id"], t["status"]) for t in listing["results"]] == [
        (ids[0], "success"),
        (ids[1], "error"),
    ]
    assert listing["count"] == 2


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "body"),
    [
        ("GET", "/v0.7/recognition/public/", {"headers": {"X-API-KEY": ""}}, 401, "detail"),
        ("GET", "/v0.7/recognition/public/", {"headers": {"X-API-KEY": "wrong"}}, 401, "detail"),
        ("GET", "/v0.7/recognition/public/nope-v1/", {}, 404, "detail"),
        ("GET", "/v0.7/recognition/specs/99/", {}, 404, "detail"),
        ("GET", "/v0.7/tasks/123456/", {}, 404, "detail"),
        ("GET", "/v0.7/tasks/", {"params": {"task_ids": "x"}}, 400, "error"),
        (
            "POST",
            "/v0.7/recognition/public/det-v1/inference",
            {"json": {"inputs": []}},
            400,
            "error",
        ),
        ("POST", "/v0.7/recognition/public/det-v1/inference", {"content": b"x"}, 415, "detail"),
        (
            "POST",
            "/v0.7/recognition/public/det-v1/inference",
            {"json": {"inputs": [{"image": {"source": "ftp://x"}}]}},
            400,
            "error",
        ),
        (
            "POST",
            "/v0.7/recognition/public/det-v1/inference",
            {"json": {"inputs": [{"image": {"source": "http://h/a.jpg", "bbox": {"xmin": 2}}}]}},
            400,
            "error",
        ),
        (
            "POST",
            "/v0.7/recognition/public/det-v1/inference",
            {
                "json": {
                    "inputs": [
                        {
                            "image": {
                                "source": "http://h/a.jpg",
                                "bbox": {"xmin": 0.5, "ymin": 0, "xmax": 0.2, "ymax": 1},
                            }
                        }
                    ]
                }
            },
            400,
            "error",
        ),
    ],
)
async def test_errors_in_deepomatic_shapes(
    dm: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], status: int, body: str
) -> None:
    response = await dm.request(method, path, **kwargs)
    assert response.status_code == status
    assert set(response.json()) == {body}
