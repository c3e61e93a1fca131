"""Reading a byte stream whole, but never past a limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.errors import PayloadTooLarge


async def read_capped(
    chunks: AsyncIterator[bytes], declared_length: str | None, limit: int, what: str
) -> bytes:
    """All of `chunks`, refused with PayloadTooLarge as soon as it is over `limit` bytes.

    A declared Content-Length over the limit is refused before anything is read.
    """
    message = f"{what} is over the limit of {limit} bytes"
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise PayloadTooLarge(message)
    data = bytearray()
    async for chunk in chunks:
        data.extend(chunk)
        if len(data) > limit:
            raise PayloadTooLarge(message)
    return bytes(data)
