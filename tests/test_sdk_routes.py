"""The roboflow SDK's bootstrap API and the inference server's v1 API (ASGITransport)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import TEST_KEY

KEY = {"api_key": TEST_KEY}


async def test_bootstrap_sequence(client: httpx.AsyncClient) -> None:
    check = await client.post("/", params=KEY)
    assert check.json() == {"workspace": "gateway"}
    assert (await client.post("/", params={"api_key": "wrong"})).status_code == 401
    workspace = (await client.get("/gateway", params=KEY)).json()["workspace"]
    assert workspace["url"] == "gateway"
    assert {p["id"] for p in workspace["projects"]} == {
        "gateway/det", "gateway/seg", "gateway/sem", "gateway/cls"
    }  # fmt: skip
    project = (await client.get("/gateway/seg", params=KEY)).json()
    assert project["project"]["id"] == "gateway/seg"
    assert project["project"]["type"] == "instance-segmentation"
    assert project["project"]["colors"]["circle"].startswith("#")
    (version,) = project["versions"]
    assert version["id"] == "gateway/seg/1"
    assert version["model"]
    assert "resize" not in version["preprocessing"]
    one = (await client.get("/gateway/seg/1", params=KEY)).json()["version"]
    assert one["train"]["model"]["id"] == "seg/1"
    assert one["models"] == ["seg/1"]
    assert (await client.get("/gateway/zzz", params=KEY)).status_code == 404
    assert (await client.get("/other", params=KEY)).status_code == 404
    assert (await client.get("/gateway/det", params={"api_key": "x"})).status_code == 401


async def test_get_on_a_model_path_is_still_inference(
    client: httpx.AsyncClient, jpeg_bytes: bytes
) -> None:
    # /{project}/{version} without ?image= is an inference call missing its image.
    response = await client.get("/det/1", params=KEY)
    assert response.status_code == 400
    assert "no image" in response.json()["message"]


async def test_duplicate_slashes_are_collapsed(
    client: httpx.AsyncClient, jpeg_bytes: bytes
) -> None:
    url = "http://gateway.test//det/1"  # a bare "//det/1" would name a host
    response = await client.post(url, params=KEY, content=base64.b64encode(jpeg_bytes))
    assert response.status_code == 200


def image(data: bytes) -> dict[str, str]:
    return {"type": "base64", "value": base64.b64encode(data).decode()}


async def test_v1_registry_add_and_infer(client: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    registry = (await client.get("/model/registry", params=KEY)).json()["models"]
    assert {m["model_id"] for m in registry} == {"det/1", "seg/1", "sem/1", "cls/1"}
    added = await client.post("/model/add", json={"model_id": "det/1", "api_key": TEST_KEY})
    assert any(m["model_id"] == "det/1" for m in added.json()["models"])
    missing = await client.post("/model/add", json={"model_id": "no/1", "api_key": TEST_KEY})
    assert missing.status_code == 404
    body = {"model_id": "det/1", "api_key": TEST_KEY, "image": image(jpeg_bytes)}
    single = (await client.post("/infer/object_detection", json=body)).json()
    assert single["image"] == {"width": 640, "height": 480}
    assert single["predictions"][0]["x"] == 320.0
    many = await client.post(
        "/infer/object_detection",
        json={**body, "image": [image(jpeg_bytes)] * 3, "confidence": 0.7},
    )
    results = many.json()
    assert isinstance(results, list)
    assert [len(r["predictions"]) for r in results] == [1, 1, 1]
    seg = await client.post(
        "/infer/instance_segmentation", json={**body, "model_id": "seg/1", "iou_threshold": 0.5}
    )
    assert seg.json()["predictions"][0]["points"]
    cls = await client.post("/infer/classification", json={**body, "model_id": "cls/1"})
    assert cls.json()["top"] == "dog"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/infer/object_detection", {"model_id": "det/1"}, 401, "requires an API key"),
        ("/infer/keypoints", {"model_id": "det/1"}, 400, "unknown task"),
        (
            "/infer/classification",
            {"model_id": "det/1", "api_key": TEST_KEY},
            400,
            "not classification",
        ),
        (
            "/infer/object_detection",
            {"model_id": "det/1", "api_key": TEST_KEY},
            400,
            "no 'image'",
        ),
        (
            "/infer/object_detection",
            {"model_id": "det/1", "api_key": TEST_KEY, "image": []},
            400,
            "send between 1 and 32",
        ),
        (
            "/infer/object_detection",
            {"model_id": "det/1", "api_key": TEST_KEY, "image": {"type": "numpy", "value": "x"}},
            400,
            "not accepted",
        ),
        (
            "/infer/object_detection",
            {"model_id": "det/1", "api_key": TEST_KEY, "image": image(b"x"), "confidence": 5},
            400,
            "confidence must be",
        ),
    ],
)
async def test_v1_errors(
    client: httpx.AsyncClient, path: str, body: dict[str, object], status: int, message: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status
    assert message in response.json()["message"]


async def test_v1_rejects_non_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/infer/object_detection", content=b"{nope")
    assert response.status_code == 400
    assert response.json() == {"message": "the request body must be a JSON object"}
