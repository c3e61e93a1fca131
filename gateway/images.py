"""Encoded image bytes -> decoded BGR pixels, EXIF orientation applied, decoded once."""

from __future__ import annotations

import binascii
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from gateway.errors import InvalidImage

Image = npt.NDArray[np.uint8]  # (H, W, 3) BGR

# Leading bytes of the formats the gateway accepts.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format named by the data's leading bytes, or None."""
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode(data: bytes) -> Image:
    """Decode JPEG, PNG, BMP, WebP or TIFF to 8-bit BGR with EXIF orientation applied.

    Grey, 16-bit and alpha images are converted to 8-bit, 3-channel BGR.
    """
    kind = sniff_format(data)
    if kind is None:
        raise InvalidImage("Could not load input image. Cause: not a JPEG, PNG, BMP, WebP or TIFF")
    if kind == "jpeg" and b"\xff\xd9" not in data[-256:]:
        # libjpeg decodes a cut-off file with a grey remainder; refuse it instead. The
        # end-of-image marker cannot occur inside entropy-coded data (byte stuffing).
        raise InvalidImage("Could not load input image. Cause: the jpeg data is truncated")
    # IMREAD_COLOR applies the EXIF orientation (JPEG, TIFF, WebP, PNG eXIf).
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InvalidImage(f"Could not load input image. Cause: the {kind} data is corrupt")
    return cast(Image, image)


def decode_base64(text: bytes) -> bytes:
    """Base64 image text as clients send it -> image bytes.

    Tolerates a `data:image/...;base64,` prefix, whitespace and line breaks (`base64`
    wraps at 76 columns), the URL-safe alphabet and missing padding.
    """
    body = text.strip()
    if body[:5].lower() == b"data:":
        body = body.partition(b",")[2]
    body = b"".join(body.split()).replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    try:
        return binascii.a2b_base64(body + b"=" * (-len(body) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(
            "Could not load input image. Cause: the body is not valid base64"
        ) from None


def decode_any(data: bytes) -> Image:
    """Raw image bytes, or base64 text of them, decoded (meant for a worker thread)."""
    return decode(data if sniff_format(data) else decode_base64(data))
