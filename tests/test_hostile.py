"""Hostile input, dialect by dialect: every case gets its 4xx, in the dialect's own error
shape; none gets a 5xx; the polyglot JPEG+ZIP is served as the JPEG it is."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from tests.conftest import TEST_KEY, serving, settings_for
from tests.hostile import BOMBS, BROKEN_IMAGES, POLYGLOT_JPEG_ZIP, encoded
from tests.test_matting import matting_config  # noqa: F401  (the matte model fixture)

GOOD_JPEG = encoded(".jpg")
pytestmark = pytest.mark.asyncio(loop_scope="module")  # one app for the whole table


DATA_URI = "data:image/jpeg;base64,"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Dialect:
    """How one dialect takes an image, and the key its error bodies carry."""

    name: str
    send: Callable[[httpx.AsyncClient, bytes], Any]  # returns the response coroutine
    error_key: Callable[[int], str] = field(default=lambda status: "message")
    bomb_status: int = 413


DIALECTS = [
    Dialect("roboflow raw", lambda c, d: c.post(f"/det/1?api_key={TEST_KEY}", content=d)),
    Dialect("roboflow base64",
            lambda c, d: c.post(f"/outline/seg/1?api_key={TEST_KEY}", content=b64(d))),
    Dialect(
        "roboflow multipart",
        lambda c, d: c.post(f"/det/1?api_key={TEST_KEY}",
                            files={"file": ("a.jpg", d, "image/jpeg")}),
    ),
    Dialect(
        "inference-server",
        lambda c, d: c.post("/infer/object_detection", json={
            "model_id": "det/1", "api_key": TEST_KEY,
            "image": {"type": "base64", "value": b64(d)}}),
    ),
    Dialect(
        "sagemaker",
        lambda c, d: c.post("/invocations", content=d, headers={"Content-Type": "image/jpeg"}),
    ),
    Dialect(
        "matting",
        lambda c, d: c.post(f"/human_image_segmentation?api_key={TEST_KEY}", json={"img": b64(d)}),
        error_key=lambda status: "error",
        bomb_status=400,  # the route's own 4096 px limit (seed 003) answers first
    ),
    Dialect(
        "deepomatic json",
        lambda c, d: c.post("/v0.7/recognition/versions/1/inference",
                            json={"inputs": [{"image": {"source": DATA_URI + b64(d)}}]},
                            headers={"X-API-KEY": TEST_KEY}),
        error_key=lambda status: "error" if status == 400 else "detail",
    ),
    Dialect(
        "deepomatic multipart",
        lambda c, d: c.post("/v0.7/recognition/versions/1/inference",
                            files={"inputs[0]image.source": ("a.jpg", d, "image/jpeg")},
                            headers={"X-API-KEY": TEST_KEY}),
        error_key=lambda status: "error" if status == 400 else "detail",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile_config(model_dir: Path, matting_config: Path) -> Path:  # noqa: F811
    models = yaml.safe_load((model_dir / "models.yaml").read_text())["models"]
    entries = [{**m, "path": str(model_dir / m["path"])} for m in models]
    entries.append({"id": "matte/1", "path": str(matting_config.parent / "matte.onnx"),
                    "activation": "sigmoid"})  # fmt: skip
    path = model_dir / "hostile.yaml"
    path.write_text(yaml.safe_dump({"models": entries}))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gw(model_dir: Path, hostile_config: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        model_dir,
        config_path=hostile_config,
        task_db=model_dir / "hostile-tasks.db",
        max_body_bytes=3_000_000,
        max_image_bytes=2_000_000,
    )
    async with serving(settings, "http://gw.test") as client:
        yield client


def check(response: httpx.Response, status: int, dialect: Dialect, words: str = "") -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    key = dialect.error_key(status)
    assert set(body) == {key}, body
    assert words in str(body[key])


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("case", sorted(BROKEN_IMAGES), ids=str)
async def test_broken_images_are_400(gw: httpx.AsyncClient, dialect: Dialect, case: str) -> None:
    response = await dialect.send(gw, BROKEN_IMAGES[case])
    check(response, 400, dialect)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("case", sorted(BOMBS), ids=str)
async def test_decompression_bombs_are_refused_from_the_header(
    gw: httpx.AsyncClient, dialect: Dialect, case: str
) -> None:
    response = await dialect.send(gw, BOMBS[case])
    check(response, dialect.bomb_status, dialect, "longest side")


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
async def test_a_polyglot_jpeg_is_served_as_the_jpeg(
    gw: httpx.AsyncClient, dialect: Dialect
) -> None:
    response = await dialect.send(gw, POLYGLOT_JPEG_ZIP)
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
async def test_oversized_bodies_are_413(gw: httpx.AsyncClient, dialect: Dialect) -> None:
    huge = GOOD_JPEG + bytes(3_100_000)  # over the 3 MB body limit in every encoding
    response = await dialect.send(gw, huge)
    check(response, 413, dialect, "limit")


async def test_a_pixel_bomb_under_the_side_limit_is_413(gw: httpx.AsyncClient) -> None:
    from tests.hostile import png_bomb

    response = await gw.post(f"/det/1?api_key={TEST_KEY}", content=png_bomb(10000, 9000))
    assert response.status_code == 413
    assert "90000000 pixels, over the limit of 40000000" in response.json()["message"]


# Roboflow query parameters: (query, status, words in the message)
ROBOFLOW_PARAMS = [
    ("confidence=-1", 400, "between 0 and 100"),
    ("confidence=NaN", 400, "between 0 and 100"),
    ("confidence=inf", 400, "between 0 and 100"),
    ("confidence=1e309", 400, "between 0 and 100"),
    ("confidence=%00", 400, "must be a number"),
    ("confidence=%E2%80%AE50", 400, "must be a number"),
    ("confidence=%EF%BC%95%EF%BC%90", 200, ""),  # full-width digits are digits
    ("overlap=1e999", 400, "between 0 and 100"),
    ("max_detections=-5", 400, "between 1 and 10000"),
    ("max_detections=99999999999999999999", 400, "between 1 and 10000"),
    ("max_detections=1.5", 400, "integer"),
    ("classes=%E2%80%AE%01,%00", 400, "unknown class"),
    ("classes=" + "a," * 5000, 400, "unknown class"),
    ("format=%00", 400, "format must be one of"),
    ("stroke=-1", 400, "between 1 and 50"),
    ("labels=maybe", 400, "true or false"),
    ("confidence=50&confidence=abc", 400, "must be a number"),  # the last value counts
    ("confidence=abc&confidence=50", 200, ""),
    ("image=%00", 400, "not a valid URL"),
    ("image=http://%E2%80%AE/x.jpg", 400, "not a valid URL"),
    ("image=" + "a" * 10000, 400, "http or https"),
    ("name=%F0%9F%92%A9%00%0A", 200, ""),  # ignored, whatever it holds
]


@pytest.mark.parametrize(("query", "status", "words"), ROBOFLOW_PARAMS)
async def test_roboflow_parameters(
    gw: httpx.AsyncClient, query: str, status: int, words: str
) -> None:
    response = await gw.post(f"/det/1?api_key={TEST_KEY}&{query}", content=GOOD_JPEG)
    assert response.status_code == status, response.text[:300]
    if status != 200:
        assert words in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/det/%00?api_key={TEST_KEY}", 404),
        (f"/%E2%80%AE/1?api_key={TEST_KEY}", 404),
        (f"/det/1/../../etc/passwd?api_key={TEST_KEY}", 404),
        ("/det/1?api_key=%00%0D%0AX-Injected:%201", 401),
        ("/det/1?api_key=" + "k" * 6000, 401),
    ],
)
async def test_roboflow_paths_and_keys(gw: httpx.AsyncClient, path: str, status: int) -> None:
    response = await gw.post(path, content=GOOD_JPEG)
    assert response.status_code == status
    assert "x-injected" not in response.headers
    assert set(response.json()) == {"message"}


async def test_roboflow_multipart_abuse(gw: httpx.AsyncClient) -> None:
    fields = {f"f{i}": "x" for i in range(40)}
    many = await gw.post(
        f"/det/1?api_key={TEST_KEY}", files={"file": ("a.jpg", GOOD_JPEG)}, data=fields
    )
    assert many.status_code == 400
    assert "multipart" in many.json()["message"]
    no_file = await gw.post(f"/det/1?api_key={TEST_KEY}", files={"other": ("a.jpg", GOOD_JPEG)})
    assert no_file.status_code == 400
    broken = await gw.post(
        f"/det/1?api_key={TEST_KEY}",
        content=b"--xyz\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400


# JSON bodies of the JSON routes: (content, status)
JSON_BODIES = [
    (b"", 400),
    (b"not json", 400),
    (b"[1, 2, 3]", 400),
    (b'"a string"', 400),
    (b"null", 400),
    (b"[" * 5000 + b"]" * 5000, 400),
    (b'{"a": 1e400}', 400),
    (b"\xff\xfe{}", 400),
    (b'{"\\u0000": "\\ud800"}', 400),
]


@pytest.mark.parametrize(("content", "status"), JSON_BODIES)
@pytest.mark.parametrize(
    ("path", "key", "headers"),
    [
        ("/infer/object_detection", "message", {}),
        (f"/human_image_segmentation?api_key={TEST_KEY}", "error", {}),
        ("/v0.7/recognition/versions/1/inference", "error", {"X-API-KEY": TEST_KEY}),
    ],
)
async def test_json_routes_refuse_bad_json(
    gw: httpx.AsyncClient,
    path: str,
    key: str,
    headers: dict[str, str],
    content: bytes,
    status: int,
) -> None:
    sent = {"Content-Type": "application/json", **headers}
    response = await gw.post(path, content=content, headers=sent)
    assert response.status_code == status, response.text[:300]
    assert set(response.json()) == {key}


GOOD_BODY = {"model_id": "det/1", "image": {"value": b64(GOOD_JPEG)}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model_id": "det/1", "image": {"type": "url", "value": 5}}, "each image"),
        ({"model_id": "det/1", "image": {"type": "file", "value": "/etc/passwd"}}, "not accepted"),
        ({"model_id": "det/1", "image": [{"type": "base64", "value": "x"}] * 101}, "between 1"),
        ({"model_id": "det/1", "image": []}, "between 1"),
        ({**GOOD_BODY, "confidence": "0.5"}, "confidence"),
        ({**GOOD_BODY, "confidence": -1}, "confidence"),
        ({**GOOD_BODY, "max_detections": 1e300}, "max_det"),
        ({**GOOD_BODY, "class_filter": "circle"}, "class_filter"),
        ({**GOOD_BODY, "model_id": ["det/1"]}, "det/1"),
    ],
)  # fmt: skip
async def test_inference_server_fields(
    gw: httpx.AsyncClient, body: dict[str, Any], words: str
) -> None:
    response = await gw.post("/infer/object_detection", json={**body, "api_key": TEST_KEY})
    assert 400 <= response.status_code < 500, response.text[:300]
    assert words in response.json()["message"]


ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "image/jpeg", "Accept": "application/xml"}, 406),
        ({"Content-Type": "image/jpeg", ATTRIBUTES: "threshold=abc"}, 400),
        ({"Content-Type": "image/jpeg", ATTRIBUTES: "threshold=NaN"}, 400),
        ({"Content-Type": "image/jpeg", ATTRIBUTES: "=;=;%00"}, 400),
        ({"Content-Type": "image/jpeg", ATTRIBUTES: '{"threshold": 1e999}'}, 400),
    ],
)  # fmt: skip
async def test_sagemaker_headers(
    gw: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    response = await gw.post("/invocations", content=GOOD_JPEG, headers=headers)
    assert response.status_code == status, response.text[:300]
    if status != 200:
        assert set(response.json()) == {"message"}
