"""Remote images over httpx: the one place where the gateway reaches out to a URL.

Every dialect fetches through `Fetcher.fetch`, so that limits and address checks live
here alone:
- http and https only; the host is resolved once, every address it resolves to must
  pass the AddressPolicy, and the connection goes to the address that was checked (the
  URL is rewritten to it, with the original Host header and TLS server name), so a DNS
  answer that changes between check and connect cannot redirect the request;
- redirects are followed by hand, each hop checked the same way, at most
  `max_redirects`; environment proxies are ignored;
- connect/read timeouts and a total deadline; a byte cap enforced on Content-Length and
  on the bytes read; the first bytes must be those of an image format the gateway reads.
Every refusal is a RequestError (400, or 413 for size) that says why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from gateway.addresses import Address, AddressPolicy
from gateway.errors import InvalidImage, PayloadTooLarge, UrlRefused
from gateway.images import sniff_format

Resolver = Callable[[str, int], Awaitable[list[Address]]]
REDIRECTS = frozenset({301, 302, 303, 307, 308})
SNIFF_BYTES = 16


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (the system resolver, without blocking the loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"the image URL's host {host!r} does not resolve: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 3


@dataclass(frozen=True)
class Target:
    """One hop: the URL as given, and the checked address to connect to instead."""

    url: httpx.URL
    address: Address

    def request(self, client: httpx.AsyncClient) -> httpx.Request:
        pinned = self.url.copy_with(host=str(self.address))
        host = self.url.netloc.decode("ascii")
        extensions = {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}
        return client.build_request("GET", pinned, headers={"Host": host}, extensions=extensions)


@dataclass
class Fetcher:
    policy: AddressPolicy = field(default_factory=AddressPolicy)
    limits: FetchLimits = field(default_factory=FetchLimits)
    resolver: Resolver = resolve
    transport: httpx.AsyncBaseTransport | None = None  # tests only
    observe: Callable[[float], None] | None = None  # told the seconds of each image fetched

    async def check(self, raw_url: str) -> Target:
        """The URL parsed and its host resolved and checked; UrlRefused saying why not."""
        shown = raw_url[:200]
        try:
            url = httpx.URL(raw_url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UrlRefused(f"the image URL {shown!r} is not a valid URL: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise UrlRefused(f"image URLs must be http or https, got {shown!r}")
        if not url.host:
            raise UrlRefused(f"the image URL {shown!r} has no host")
        if url.userinfo:
            raise UrlRefused("image URLs with credentials (user:password@) are not fetched")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses: list[Address] = [ipaddress.ip_address(url.host)]
        except ValueError:
            addresses = await self.resolver(url.host, port)
        if not addresses:
            raise UrlRefused(f"the image URL's host {url.host!r} does not resolve")
        if not self.policy.host_allowed(url.host):
            for address in addresses:
                problem = self.policy.problem(address)
                if problem:
                    raise UrlRefused(
                        f"the image URL's host {url.host!r} is {address}, {problem}; "
                        "the gateway only fetches from public addresses"
                    )
        return Target(url, addresses[0])

    async def fetch(self, url: str) -> bytes:
        """GET an image URL and return its bytes, or raise a RequestError saying why not."""
        limits = self.limits
        timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(limits.total_timeout),
                httpx.AsyncClient(
                    timeout=timeout, trust_env=False, transport=self.transport
                ) as client,
            ):
                data = await self._follow(client, url)
            if self.observe is not None:
                self.observe(time.perf_counter() - started)
            return data
        except TimeoutError:
            raise InvalidImage(
                f"fetching the image took longer than {limits.total_timeout}s"
            ) from None
        except httpx.HTTPError as exc:
            raise InvalidImage(f"could not fetch the image at {url[:200]}: {exc}") from None

    async def _follow(self, client: httpx.AsyncClient, url: str) -> bytes:
        for _ in range(self.limits.max_redirects + 1):
            target = await self.check(url)
            response = await client.send(target.request(client), stream=True)
            shown = str(target.url)[:200]
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    url = urljoin(str(target.url), location)
                    continue
                if response.status_code != 200:
                    raise InvalidImage(
                        f"the image URL answered HTTP {response.status_code}: {shown}"
                    )
                return await self._read(response, shown)
            finally:
                await response.aclose()
        raise UrlRefused(f"the image URL redirected more than {self.limits.max_redirects} times")

    async def _read(self, response: httpx.Response, shown: str) -> bytes:
        """The body, capped, refused early unless its first bytes are an image's."""
        limit = self.limits.max_bytes
        too_large = f"the image at {shown} is over the limit of {limit} bytes"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(too_large)
        data = bytearray()
        sniffed = False
        async for chunk in response.aiter_bytes():
            data.extend(chunk)
            if len(data) > limit:
                raise PayloadTooLarge(too_large)
            if not sniffed and len(data) >= SNIFF_BYTES:
                self._require_image(bytes(data), response, shown)
                sniffed = True
        if not sniffed:
            self._require_image(bytes(data), response, shown)
        return bytes(data)

    @staticmethod
    def _require_image(head: bytes, response: httpx.Response, shown: str) -> None:
        if sniff_format(head) is None:
            kind = response.headers.get("content-type", "no Content-Type")[:60]
            raise InvalidImage(
                f"the URL {shown} did not return a JPEG, PNG, BMP, WebP or TIFF image ({kind})"
            )
