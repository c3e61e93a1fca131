"""Roboflow hosted routes over HTTP (ASGITransport, lifespan running): COMPAT.md section 1."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from urllib.parse import quote

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image as PILImage

from tests.conftest import TEST_KEY
from tests.imageserver import serve_images

KEY = f"api_key={TEST_KEY}"
CENTRE = {"x": 320.0, "y": 240.0, "width": 128.0, "height": 64.0}


@pytest.fixture(scope="module")
def image_url(jpeg_bytes: bytes) -> Iterator[str]:
    files = {
        "/white.jpg": jpeg_bytes,
        "/text.jpg": b"not an image",
        "/big.jpg": b"\xff" * 2_500_000,
    }
    with serve_images(files) as base:
        yield base


def box(prediction: dict[str, object]) -> dict[str, object]:
    return {k: prediction[k] for k in ("x", "y", "width", "height")}


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def wrapped(data: bytes) -> bytes:
    """`base64 FILE` output: 76 columns, newline-terminated (curl --data-binary keeps it)."""
    text = b64(data)
    return b"\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + b"\n"


BODY_FORMS = [
    ("form-urlencoded base64", lambda d: b64(d), "application/x-www-form-urlencoded"),
    ("curl --data-binary (wrapped)", wrapped, "application/x-www-form-urlencoded"),
    ("curl -d @- (newlines stripped)", lambda d: wrapped(d).replace(b"\n", b""), None),
    ("application/json raw base64", lambda d: b64(d), "application/json"),
    ("text/plain", lambda d: b64(d), "text/plain"),
    ("data URI", lambda d: b"data:image/jpeg;base64," + b64(d), "application/json"),
    ("url-safe unpadded", lambda d: base64.urlsafe_b64encode(d).rstrip(b"="), "text/plain"),
    ("raw jpeg bytes", lambda d: d, "image/jpeg"),
]


@pytest.mark.parametrize(("label", "encode", "content_type"), BODY_FORMS)
async def test_every_body_form_gives_the_documented_json(
    client: httpx.AsyncClient, jpeg_bytes: bytes, label: str, encode, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        f"/det/1?{KEY}&name=YOUR_IMAGE.jpg", content=encode(jpeg_bytes), headers=headers
    )
    assert response.status_code == 200, label
    body = response.json()
    assert set(body) == {"inference_id", "time", "image", "predictions"}
    assert body["image"] == {"width": 640, "height": 480}
    first = body["predictions"][0]
    assert box(first) == CENTRE
    assert set(first) == {
        "x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"
    }  # fmt: skip
    assert (first["class"], first["class_id"]) == ("circle", 0)


async def test_multipart_file_and_other_formats(client: httpx.AsyncClient) -> None:
    for fmt in ("PNG", "BMP", "WEBP", "TIFF"):
        data = io.BytesIO()
        PILImage.new("RGB", (640, 480), "white").save(data, format=fmt)
        files = {"file": ("imageToUpload", data.getvalue(), "image/jpeg")}
        response = await client.post(f"/det/1?{KEY}", files=files)
        assert response.status_code == 200, fmt
        assert box(response.json()["predictions"][0]) == CENTRE


async def test_image_url_post_and_get(client: httpx.AsyncClient, image_url: str) -> None:
    url = quote(f"{image_url}/white.jpg", safe="")
    for method in ("POST", "GET"):
        response = await client.request(method, f"/det/1?{KEY}&image={url}")
        assert response.status_code == 200, method
        assert box(response.json()["predictions"][0]) == CENTRE
    # The body is ignored when ?image= is given; redirects are followed.
    redirect = quote(f"{image_url}/redirect/white.jpg", safe="")
    response = await client.post(f"/det/1?{KEY}&image={redirect}", content=b"ignored")
    assert response.status_code == 200


async def test_family_routes_and_host_routing(client: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    body = b64(jpeg_bytes)
    outline = await client.post(f"/outline/seg/1?{KEY}", content=body)
    assert outline.status_code == 200
    points = outline.json()["predictions"][0]["points"]
    assert len(points) >= 4
    assert {"x", "y"} == set(points[0])
    segment = await client.post(f"/segment/sem/1?{KEY}", content=body)
    assert set(segment.json()) >= {"segmentation_mask", "class_map", "image"}
    classify = await client.post(f"/classify/cls/1?{KEY}", content=body)
    assert (classify.json()["top"], classify.json()["confidence"]) == ("dog", 0.7)
    host = await client.post(
        f"/det/1?{KEY}", content=body, headers={"Host": "detect.gateway.test:9001"}
    )
    assert host.status_code == 200
    wrong_host = await client.post(
        f"/det/1?{KEY}", content=body, headers={"Host": "outline.gateway.test"}
    )
    assert wrong_host.status_code == 400
    wrong = await client.post(f"/outline/det/1?{KEY}", content=body)
    assert wrong.status_code == 400
    assert wrong.json()["message"] == (
        "model 'det/1' does detect: call /detect/det/1, not /outline/det/1"
    )


async def test_parameters(client: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    body = b64(jpeg_bytes)

    async def predictions(query: str) -> list[dict[str, object]]:
        response = await client.post(f"/det/1?{KEY}&{query}", content=body)
        assert response.status_code == 200, query
        return list(response.json()["predictions"])

    assert len(await predictions("confidence=40")) == 2
    assert len(await predictions("confidence=0.4")) == 2
    assert len(await predictions("confidence=70")) == 1
    assert len(await predictions("confidence=0.7&overlap=0.5")) == 1
    assert [p["class"] for p in await predictions("classes=square")] == ["square"]
    assert len(await predictions("classes=circle,square&max_detections=1")) == 1
    assert len(await predictions("unknown_param=1&stroke=3&labels=true")) == 2


async def test_image_formats(client: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    body = b64(jpeg_bytes)
    image = await client.post(
        f"/outline/seg/1?{KEY}&format=image&labels=true&stroke=2", content=body
    )
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    drawn = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == (480, 640, 3)
    assert (drawn.reshape(-1, 3) < 200).any(axis=1).sum() > 500  # something was drawn
    both = await client.post(f"/det/1?{KEY}&format=image_and_json", content=body)
    payload = both.json()
    assert box(payload["predictions"][0]) == CENTRE
    visual = base64.b64decode(payload["visualization"])
    assert cv2.imdecode(np.frombuffer(visual, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)


async def test_auth(client: httpx.AsyncClient, jpeg_bytes: bytes) -> None:
    body = b64(jpeg_bytes)
    missing = await client.post("/det/1", content=body)
    assert missing.status_code == 401
    wrong = await client.post("/det/1?api_key=nope", content=body)
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "User is not authorized to access this resource"}
    bearer = await client.post(
        "/det/1", content=body, headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    assert bearer.status_code == 200
    assert (await client.post("/det/1?api_key=scoped-key", content=body)).status_code == 200
    forbidden = await client.post("/outline/seg/1?api_key=scoped-key", content=body)
    assert forbidden.status_code == 403
    # A wrong key is refused before the (possibly huge) body is read.
    assert (await client.post("/det/1?api_key=nope", content=b"x" * 3_000_000)).status_code == 401


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


MALFORMED = [
    ("empty body", "/det/1", b"", 400, "Could not load input image"),
    ("whitespace body", "/det/1", b"  \n ", 400, "Could not load input image"),
    ("bad base64", "/det/1", b"%%%%not-base64%%%%", 400, "not valid base64"),
    ("base64 of text", "/det/1", b64(b"hello, world"), 400, "not a JPEG, PNG"),
    ("unknown model", "/nope/1", b"x", 404, "no model 'nope/1'"),
    ("unknown family model", "/detect/nope/9", b"x", 404, "no model 'nope/9'"),
    ("confidence words", "/det/1?confidence=high", b"x", 400, "confidence must be a number"),
    ("overlap range", "/det/1?overlap=250", b"x", 400, "overlap must be between 0 and 100"),
    ("bad format", "/det/1?format=gif", b"x", 400, "format must be one of"),
    ("bad stroke", "/det/1?stroke=0", b"x", 400, "stroke must be between 1 and 50"),
    ("bad max", "/det/1?max_detections=many", b"x", 400, "max_detections must be an integer"),
    ("bad labels", "/det/1?labels=maybe", b"x", 400, "labels must be true or false"),
    ("unknown class", "/det/1?classes=zebra", b"x", 400, "unknown class 'zebra'"),
    ("too large", "/det/1", b"A" * 2_100_000, 413, "over the limit"),
]


@pytest.mark.parametrize(("label", "path", "body", "status", "message"), MALFORMED)
async def test_malformed_requests_get_clear_4xx(
    client: httpx.AsyncClient, label: str, path: str, body: bytes, status: int, message: str
) -> None:
    sep = "&" if "?" in path else "?"
    response = await client.post(f"{path}{sep}{KEY}", content=body)
    assert response.status_code == status, label
    assert message in response.json()["message"], label


async def test_broken_images_and_urls(
    client: httpx.AsyncClient, jpeg_bytes: bytes, image_url: str
) -> None:
    cut = await client.post(f"/det/1?{KEY}", content=b64(truncated(jpeg_bytes)))
    assert cut.status_code == 400
    assert "truncated" in cut.json()["message"]
    cases = (
        ("/missing.jpg", 400, "HTTP 404"),
        ("/text.jpg", 400, "did not return a JPEG, PNG"),
        ("/big.jpg", 413, "over the limit of 2000000 bytes"),
    )
    for path, status, message in cases:
        url = quote(image_url + path, safe="")
        response = await client.get(f"/det/1?{KEY}&image={url}")
        assert response.status_code == status
        assert message in response.json()["message"]
    closed = quote("http://127.0.0.1:9/x.jpg", safe="")
    unreachable = await client.get(f"/det/1?{KEY}&image={closed}")
    assert unreachable.status_code == 400
    assert "could not fetch" in unreachable.json()["message"]
    ftp = await client.get(f"/det/1?{KEY}&image=ftp://example.com/a.jpg")
    assert ftp.status_code == 400
    # The server is still up and answering.
    assert (await client.post(f"/det/1?{KEY}", content=b64(jpeg_bytes))).status_code == 200


async def test_routing_errors_are_json(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/a/b/c/d")
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Not Found"}
    wrong_method = await client.put(f"/det/1?{KEY}")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"message": "Method Not Allowed"}


async def test_service_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"] == 4
    assert (await client.get("/info")).json()["name"] == "vision-gateway"
    registry = (await client.get(f"/model/registry?{KEY}")).json()["models"]
    assert {m["model_id"]: m["task_type"] for m in registry} == {
        "det/1": "object-detection",
        "seg/1": "instance-segmentation",
        "sem/1": "semantic-segmentation",
        "cls/1": "classification",
    }
    assert registry[0]["input_height"] == 320
