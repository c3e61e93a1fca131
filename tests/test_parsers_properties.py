"""Property-based tests (hypothesis) of the input parsers: whatever a client sends, a
parser either returns a value or raises a RequestError (a 4xx), never anything else."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import math
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.addresses import Address, AddressPolicy
from gateway.dialects.deepomatic.inference import from_json
from gateway.dialects.inference_server import params_from
from gateway.dialects.matting import parse as parse_matting
from gateway.dialects.roboflow.params import parse_query, percent_or_fraction
from gateway.dialects.sagemaker import custom_attributes, threshold
from gateway.errors import ConfigError, RequestError
from gateway.fetch import Fetcher
from gateway.images import ImageLimits, decode, decode_any, decode_base64, inspect
from tests.hostile import encoded

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ImageLimits(max_bytes=200_000, max_pixels=1_000_000, max_side=2000)
SAMPLES = [encoded(ext) for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff")]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(
    data=st.binary(min_size=1, max_size=3000),
    wrap=st.sampled_from([0, 76, 64]),
    urlsafe=st.booleans(),
    strip_padding=st.booleans(),
    prefix=st.sampled_from([b"", b"data:image/jpeg;base64,", b"DATA:image/png;base64,"]),
    crlf=st.booleans(),
)
def test_base64_round_trips_in_every_client_spelling(
    data: bytes, wrap: int, urlsafe: bool, strip_padding: bool, prefix: bytes, crlf: bool
) -> None:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data)
    if strip_padding:
        text = text.rstrip(b"=")
    if wrap:
        newline = b"\r\n" if crlf else b"\n"
        text = newline.join(text[i : i + wrap] for i in range(0, len(text), wrap))
    assert decode_base64(prefix + text + b"\n") == data


@FAST
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_decode_or_are_a_client_error(data: bytes) -> None:
    try:
        image = decode_any(data, LIMITS)
    except RequestError:
        return
    assert image.ndim == 3
    assert image.shape[2] == 3


@FAST
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
)
def test_mutated_images_decode_within_limits_or_are_refused(
    sample: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    """Flipped bytes (dimensions in headers included) and truncation at any point."""
    data = bytearray(sample)
    for at, value in edits:
        data[at % len(data)] = value
    mutated = bytes(data[: max(1, len(data) - cut % len(data))])
    try:
        image = decode(mutated, LIMITS)
    except RequestError:
        return
    height, width = image.shape[:2]
    assert max(height, width) <= LIMITS.max_side
    assert height * width <= LIMITS.max_pixels


@FAST
@given(st.sampled_from(SAMPLES))
def test_inspect_agrees_with_decode_on_valid_images(sample: bytes) -> None:
    kind = inspect(sample, LIMITS)
    assert kind in {"jpeg", "png", "bmp", "webp", "tiff"}
    assert decode(sample, LIMITS).shape[:2] == (48, 64)


query_values = st.text(max_size=30) | st.sampled_from(
    ["NaN", "inf", "-inf", "1e309", "-0", "0x10", "\uff15\uff10", "50%", " 50 ", "1_0", "\u0663"]
)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(
            ["confidence", "overlap", "classes", "max_detections", "format", "labels",
             "stroke", "image", "name", "api_key", "other"]
        ),
        query_values,
    )
)  # fmt: skip
def test_roboflow_query_parses_or_is_a_client_error(query: dict[str, str]) -> None:
    try:
        parsed = parse_query(query)
    except RequestError:
        return
    for value in (parsed.params.confidence, parsed.params.iou):
        assert value is None or 0.0 <= value <= 1.0


@FAST
@given(st.one_of(st.text(max_size=20), st.floats(), st.none()))
def test_percent_or_fraction_is_a_finite_fraction(raw: str | float | None) -> None:
    try:
        value = percent_or_fraction("confidence", raw, 0.4)
    except RequestError:
        return
    assert math.isfinite(value)
    assert 0.0 <= value <= 1.0


@FAST
@given(json_values)
def test_deepomatic_body_parses_or_is_a_client_error(body: Any) -> None:
    with contextlib.suppress(RequestError):
        from_json(body)


@FAST
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "inputs": st.lists(
                st.fixed_dictionaries(
                    {"image": st.fixed_dictionaries(
                        {"source": st.sampled_from(["http://x.test/a.jpg", "data:,AA"])},
                        optional={"bbox": json_values, "polygon": json_values,
                                  "crop_uniform_background": json_values},
                    )}
                ),
                max_size=2,
            ),
            "show_discarded": json_values,
            "max_predictions": json_values,
        },
    )
)  # fmt: skip
def test_deepomatic_regions_parse_or_are_a_client_error(body: dict[str, Any]) -> None:
    try:
        parsed = from_json(body)
    except RequestError:
        return
    assert parsed.max_predictions >= 1
    if parsed.image.bbox is not None:
        xmin, ymin, xmax, ymax = parsed.image.bbox
        assert 0 <= xmin < xmax <= 1
        assert 0 <= ymin < ymax <= 1


@FAST
@given(st.dictionaries(st.sampled_from(
    ["confidence", "iou_threshold", "class_filter", "max_detections", "class_agnostic_nms"]),
    json_values))  # fmt: skip
def test_inference_server_params_parse_or_are_a_client_error(body: dict[str, Any]) -> None:
    try:
        params = params_from(body)
    except RequestError:
        return
    assert params.max_detections is None or params.max_detections >= 1


@FAST
@given(json_values)
def test_matting_body_parses_or_is_a_client_error(body: Any) -> None:
    try:
        url, img, _ = parse_matting(body)
    except RequestError:
        return
    assert (url is None) != (img is None)


@FAST
@given(st.text(max_size=60) | st.none())
def test_sagemaker_attributes_parse_or_are_a_client_error(header: str | None) -> None:
    try:
        attributes = custom_attributes(header)
        value = threshold(attributes, 0.5)
    except RequestError:
        return
    assert 0.0 <= value <= 1.0


@FAST
@given(st.text(max_size=80))
def test_allow_lists_parse_or_are_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        AddressPolicy.parse(text)


@FAST
@given(
    st.text(max_size=60)
    | st.builds(
        lambda host, path: f"http://{host}/{path}", st.text(max_size=20), st.text(max_size=20)
    )
)
async def test_urls_are_checked_or_refused(url: str) -> None:
    """No URL string makes the check raise anything but a client error, and whatever it
    accepts resolves to a public address (the stub resolver answers loopback)."""

    async def resolver(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("127.0.0.1")]

    try:
        target = await Fetcher(resolver=resolver).check(url)
    except RequestError:
        return
    assert target.address.is_global


def test_random_images_of_every_size_decode_to_their_size() -> None:
    """A seeded sweep of real encodings (not a property test: its cases are fixed)."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        height, width = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        for extension in (".jpg", ".png", ".bmp"):
            ok, data = cv2.imencode(extension, image)
            assert ok
            assert decode(data.tobytes(), LIMITS).shape == (height, width, 3)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: str(len(s)))
def test_base64_of_real_images_decodes_to_the_same_pixels(sample: bytes) -> None:
    text = base64.b64encode(sample)
    assert np.array_equal(decode_any(text, LIMITS), decode(sample, LIMITS))
