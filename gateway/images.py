"""Encoded image bytes -> decoded BGR pixels, EXIF orientation applied, decoded once.

Limits are checked before the work they protect: base64 text by its length before it
is decoded, and an image's dimensions from its header (read by Pillow, which parses
headers without touching pixel data) before OpenCV allocates and decodes the pixels,
so a 20000 x 20000 PNG of a few KB is refused in well under a millisecond.
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
import PIL.Image
import pybase64

from gateway.errors import InvalidImage, PayloadTooLarge

# The gateway enforces its own pixel limit from the header; Pillow's (a warning at
# 89 MP, an error at 179 MP) would only get in the way of that message.
PIL.Image.MAX_IMAGE_PIXELS = None

Image = npt.NDArray[np.uint8]  # (H, W, 3) BGR

# Leading bytes of the formats the gateway accepts.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC, the last bytes of every PNG


def sniff_format(data: bytes) -> str | None:
    """The image format named by the data's leading bytes, or None."""
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class ImageLimits:
    """What one image may be: encoded size, pixel count and longest side."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 16384

    def check_size(self, data: bytes | bytearray, what: str = "the image") -> None:
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"{what} is over the limit of {self.max_bytes} bytes")

    def check_dimensions(self, width: int, height: int) -> None:
        if max(width, height) > self.max_side:
            raise PayloadTooLarge(
                f"the image is {width}x{height}; its longest side may be at most "
                f"{self.max_side} pixels"
            )
        if width * height > self.max_pixels:
            raise PayloadTooLarge(
                f"the image is {width}x{height} = {width * height} pixels, over the limit "
                f"of {self.max_pixels}"
            )


DEFAULT_LIMITS = ImageLimits()


def header_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) from the image header alone; InvalidImage when it is unreadable."""
    try:
        with PIL.Image.open(io.BytesIO(data), formats=[kind.upper()]) as header:
            width, height = header.size
    except Exception:  # Pillow's plugins raise many unrelated types on bad headers
        raise InvalidImage(
            f"Could not load input image. Cause: the {kind} data is corrupt (bad header)"
        ) from None
    if width <= 0 or height <= 0:
        raise InvalidImage(f"Could not load input image. Cause: the {kind} is {width}x{height}")
    return width, height


def inspect(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> str:
    """The format of encoded image bytes, once their size, completeness and header
    dimensions pass `limits` (no pixel is decoded: cheap enough to run at submission)."""
    kind = sniff_format(data)
    if kind is None:
        raise InvalidImage("Could not load input image. Cause: not a JPEG, PNG, BMP, WebP or TIFF")
    limits.check_size(data)
    if kind == "jpeg" and b"\xff\xd9" not in data[-256:]:
        # libjpeg decodes a cut-off file with a grey remainder; refuse it instead. The
        # end-of-image marker cannot occur inside entropy-coded data (byte stuffing).
        raise InvalidImage("Could not load input image. Cause: the jpeg data is truncated")
    if kind == "png" and PNG_END not in data:  # likewise for a PNG cut before its IEND
        raise InvalidImage("Could not load input image. Cause: the png data is truncated")
    limits.check_dimensions(*header_size(data, kind))
    return kind


def decode(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> Image:
    """Decode JPEG, PNG, BMP, WebP or TIFF to 8-bit BGR with EXIF orientation applied.

    Grey, 16-bit and alpha images are converted to 8-bit, 3-channel BGR. The size and
    the header's dimensions are checked against `limits` before anything is decoded.
    """
    kind = inspect(data, limits)
    # IMREAD_COLOR applies the EXIF orientation (JPEG, TIFF, WebP, PNG eXIf).
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InvalidImage(f"Could not load input image. Cause: the {kind} data is corrupt")
    limits.check_dimensions(image.shape[1], image.shape[0])  # in case a header lied
    return cast(Image, image)


def decode_base64(text: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """Base64 image text as clients send it -> image bytes.

    Tolerates a `data:image/...;base64,` prefix, whitespace and line breaks (`base64`
    wraps at 76 columns), the URL-safe alphabet and missing padding. Text that would
    decode to more than the image byte limit is refused before it is decoded.
    """
    # 4 characters per 3 bytes, plus a line break every 76 and a data-URI prefix.
    if len(text) > limits.max_bytes * 4 // 3 * 78 // 76 + 1024:
        raise PayloadTooLarge(
            f"the base64 image is over the limit of {limits.max_bytes} bytes once decoded"
        )
    try:  # the common case, one pass: what the SDKs send (standard alphabet, padded)
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    body = text.strip()
    if body[:5].lower() == b"data:":
        body = body.partition(b",")[2]
    body = b"".join(body.split()).replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    try:
        return pybase64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(
            "Could not load input image. Cause: the body is not valid base64"
        ) from None


def image_bytes(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """Raw image bytes, or base64 text of them, as inspected image bytes (not decoded)."""
    raw = data if sniff_format(data) else decode_base64(data, limits)
    inspect(raw, limits)
    return raw


def decode_any(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> Image:
    """Raw image bytes, or base64 text of them, decoded (meant for a worker thread)."""
    return decode(data if sniff_format(data) else decode_base64(data, limits), limits)
