"""Hostile payloads: decompression bombs, polyglots, broken and mislabelled images.

Each builder returns a few bytes to a few KB: bombs declare huge dimensions in a valid
header and are never generated at full size.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG declaring width x height RGB pixels; its IDAT is some rows of zeros."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width * 3) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def encoded(extension: str, width: int = 64, height: int = 48) -> bytes:
    image = np.full((height, width, 3), 90, np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 3, (20, 200, 240), -1)
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def jpeg_bomb(width: int = 65000, height: int = 65000) -> bytes:
    """A small valid JPEG whose frame header (SOF0) is patched to claim width x height."""
    data = bytearray(encoded(".jpg"))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A BMP header claiming width x height 24-bit pixels, followed by 1 KB of them."""
    data = bytearray(encoded(".bmp"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data[:54]) + bytes(1024)


def png_long_side(side: int = 40000) -> bytes:
    """Few pixels (side x 1) but a side longer than any limit."""
    return png_bomb(side, 1)


# name -> bytes the gateway must refuse with a 4xx as an image
BROKEN_IMAGES: dict[str, bytes] = {
    "empty": b"",
    "one byte": b"\xff",
    "text": b"hello, this is not an image",
    "html named jpg": b"<!doctype html><html><body>x</body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "pdf": b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF",
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "zip": b"PK\x03\x04" + bytes(40),
    "jpeg signature then html": b"\xff\xd8\xff\xe0<html></html>\xff\xd9",
    "png signature then garbage": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "truncated jpeg": encoded(".jpg")[:-200],
    "truncated png": encoded(".png")[:60],
    "nul bytes": bytes(2048),
}

# name -> (bytes, expected status): declared dimensions over the limits
BOMBS: dict[str, bytes] = {
    "png 20000x20000": png_bomb(),
    "jpeg 65000x65000": jpeg_bomb(),
    "bmp 30000x30000": bmp_bomb(),
    "png 40000x1": png_long_side(),
}

# A valid JPEG with a ZIP archive appended (a classic polyglot): it is an image, and
# the gateway treats it as exactly that image.
POLYGLOT_JPEG_ZIP = encoded(".jpg") + b"PK\x03\x04" + bytes(64)
