"""Decoding (with EXIF orientation), resizing modes and input tensors."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from gateway.engine.providers import CPU, CUDA, TENSORRT, choose_providers
from gateway.errors import ConfigError, InvalidImage
from gateway.images import decode
from gateway.preprocess import center_crop, letterbox, stretch, to_tensor
from gateway.spec import Preprocessing


def encode(image: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(image[..., ::-1]).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def marked() -> np.ndarray:
    """A 40x60 (h x w) image, red in the top-left corner, so orientation shows."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:10, :10] = (0, 0, 255)
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP", "TIFF"])
def test_decodes_every_accepted_format(fmt: str) -> None:
    image = decode(encode(marked(), fmt))
    assert image.shape == (40, 60, 3)
    assert image.dtype == np.uint8
    assert image[2, 2, 2] > 200
    assert image[30, 50, 2] < 50


def test_exif_orientation_is_applied() -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(marked(), "JPEG", exif=exif.tobytes(), quality=95)
    image = decode(data)
    assert image.shape == (60, 40, 3)
    assert image[2, 37, 2] > 200  # the red corner is now top-right


def test_grey_and_alpha_images_become_bgr() -> None:
    grey = io.BytesIO()
    PILImage.fromarray(np.full((8, 8), 200, np.uint8)).save(grey, format="PNG")
    assert decode(grey.getvalue()).shape == (8, 8, 3)
    rgba = io.BytesIO()
    PILImage.fromarray(np.full((8, 8, 4), 90, np.uint8), "RGBA").save(rgba, format="PNG")
    assert decode(rgba.getvalue()).shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a JPEG, PNG"),
        (b"GIF89a....", "not a JPEG, PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9", "jpeg data is corrupt"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "jpeg data is truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "png data is truncated"),
    ],
)
def test_undecodable_images(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        decode(data)


def test_letterbox_pads_evenly_with_grey() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    canvas, t = letterbox(image, 320, 320)
    assert canvas.shape == (320, 320, 3)
    assert (t.scale_x, t.scale_y, t.pad_x, t.pad_y) == (1.6, 1.6, 0, 80)
    assert (canvas[:80] == 114).all()
    assert (canvas[240:] == 114).all()
    assert (canvas[80:240] == 255).all()
    assert t.valid_region(320, 320) == (0, 80, 320, 240)


def test_stretch_and_crop_transforms() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    stretched, t = stretch(image, 64, 64)
    assert stretched.shape == (64, 64, 3)
    assert (t.scale_x, t.scale_y) == (0.32, 0.64)
    cropped, c = center_crop(image, 50, 50)
    assert cropped.shape == (50, 50, 3)
    assert (c.scale_x, c.pad_x, c.pad_y) == (0.5, -25, 0)


def pre(**kw: object) -> Preprocessing:
    base: dict[str, object] = dict(
        input_name="x", input_dtype=np.dtype(np.float32), height=2, width=2
    )
    base.update(kw)
    return Preprocessing(**base)  # type: ignore[arg-type]


def test_tensor_is_rgb_nchw_scaled() -> None:
    canvas = np.zeros((2, 2, 3), np.uint8)
    canvas[..., 0] = 10  # blue
    canvas[..., 2] = 250  # red
    tensor = to_tensor([canvas, canvas], pre())
    assert tensor.shape == (2, 3, 2, 2)
    assert tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, 0, 0], [250 / 255, 0, 10 / 255])
    bgr = to_tensor([canvas], pre(color_channels="BGR"))
    np.testing.assert_allclose(bgr[0, :, 0, 0], [10 / 255, 0, 250 / 255])


def test_mean_and_std_are_in_model_channel_order() -> None:
    canvas = np.full((2, 2, 3), 255, np.uint8)
    tensor = to_tensor([canvas], pre(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0)))
    np.testing.assert_allclose(tensor[0, :, 0, 0], [1.0, 3.0, 1.0], rtol=1e-6)


def test_nhwc_uint8_and_fp16_inputs() -> None:
    canvas = np.zeros((2, 2, 3), np.uint8)
    canvas[..., 2] = 200
    uint8 = to_tensor([canvas], pre(input_dtype=np.dtype(np.uint8), dimension_order="NHWC"))
    assert uint8.shape == (1, 2, 2, 3)
    assert uint8[0, 0, 0, 0] == 200
    half = to_tensor([canvas], pre(input_dtype=np.dtype(np.float16)))
    assert half.dtype == np.float16
    assert half.shape == (1, 3, 2, 2)


@pytest.mark.parametrize(
    ("available", "setting", "expected"),
    [
        ([CPU], "auto", [CPU]),
        ([CUDA, CPU], "auto", [CUDA, CPU]),
        ([TENSORRT, CUDA, CPU], "auto", [TENSORRT, CUDA, CPU]),
        ([TENSORRT, CUDA, CPU], "cuda", [CUDA, CPU]),
        ([TENSORRT, CUDA, CPU], "cpu", [CPU]),
    ],
)
def test_provider_choice(available: list[str], setting: str, expected: list[str]) -> None:
    assert choose_providers(available, setting) == expected


def test_forcing_a_missing_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CUDAExecutionProvider is not available"):
        choose_providers([CPU], "cuda")


def test_cv2_decodes_once_into_contiguous_bgr() -> None:
    ok, jpeg = cv2.imencode(".jpg", marked())
    assert ok
    image = decode(jpeg.tobytes())
    assert image.flags["C_CONTIGUOUS"]
