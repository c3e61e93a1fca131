"""Remote images over httpx: the one place where the gateway reaches out to a URL.

Every dialect fetches through `fetch_bytes`, so that limits and (later) address
checks live here alone. Caps: connect/read timeouts, a total deadline, a byte cap
enforced on Content-Length and on the bytes actually read, bounded redirects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from gateway.errors import InvalidImage
from gateway.streams import read_capped


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 3


async def fetch_bytes(url: str, limits: FetchLimits = FetchLimits()) -> bytes:
    """GET an http(s) URL and return its body, or raise InvalidImage saying why not."""
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidImage(f"image URL must be http or https, got {url[:100]!r}")
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    try:
        async with (
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=True, max_redirects=limits.max_redirects
            ) as client,
            asyncio.timeout(limits.total_timeout),
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise InvalidImage(f"image URL answered HTTP {response.status_code}: {url}")
            declared = response.headers.get("content-length")
            what = f"the image at {url[:200]}"
            return await read_capped(response.aiter_bytes(), declared, limits.max_bytes, what)
    except TimeoutError:
        raise InvalidImage(f"fetching the image took longer than {limits.total_timeout}s") from None
    except httpx.HTTPError as exc:
        raise InvalidImage(f"could not fetch the image at {url}: {exc}") from None
