"""URL fetching refuses every destination that is not public, in every dialect (SSRF)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from gateway.addresses import Address, AddressPolicy, address_problem
from gateway.errors import ConfigError, UrlRefused
from gateway.fetch import Fetcher
from tests.conftest import TEST_KEY, serving, settings_for
from tests.imageserver import serve_images

# (URL, words the refusal must contain). Every form below reaches this machine or its
# network if fetched naively; decimal, hex, short and octal forms of 127.0.0.1 included.
FORBIDDEN_URLS = [
    ("http://127.0.0.1/a.jpg", "loopback"),
    ("http://2130706433/a.jpg", "loopback"),  # decimal 127.0.0.1
    ("http://0x7f000001/a.jpg", "loopback"),  # hex
    ("http://127.1/a.jpg", "loopback"),  # short form
    ("http://0177.0.0.1/a.jpg", "not a valid URL"),  # octal: httpx refuses to parse it
    ("http://localhost:9001/a.jpg", "loopback"),  # a name resolving to loopback
    ("http://[::1]/a.jpg", "loopback"),
    ("http://[::ffff:127.0.0.1]/a.jpg", "loopback address inside an IPv6"),
    ("http://[::ffff:7f00:1]/a.jpg", "loopback address inside an IPv6"),
    ("http://[2002:a9fe:a9fe::1]/a.jpg", "link-local address (cloud metadata"),  # 6to4
    ("http://[64:ff9b::a00:1]/a.jpg", "private address inside an IPv6"),  # NAT64
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/a.jpg", "link-local"),
    ("http://10.0.0.1/a.jpg", "private"),
    ("http://172.16.5.4/a.jpg", "private"),
    ("http://192.168.1.1/a.jpg", "private"),
    ("http://[fc00::1]/a.jpg", "private"),
    ("http://100.64.0.1/a.jpg", "CGNAT"),
    ("http://224.0.0.1/a.jpg", "multicast"),
    ("http://0.0.0.0/a.jpg", "unspecified"),
    ("http://240.0.0.1/a.jpg", "reserved"),
    ("http://255.255.255.255/a.jpg", "reserved"),
    ("file:///etc/passwd", "http or https"),
    ("ftp://example.com/a.jpg", "http or https"),
    ("gopher://127.0.0.1:6379/_INFO", "http or https"),
    ("http://user:secret@example.com/a.jpg", "credentials"),
    ("http:///a.jpg", "no host"),
    ("not a url", "http or https"),
]


@pytest.mark.parametrize(("url", "reason"), FORBIDDEN_URLS)
async def test_forbidden_destinations_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason.replace("(", r"\(")):
        await Fetcher().check(url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("::ffff:8.8.8.8", True),
        ("127.255.255.254", False),
        ("198.18.0.1", False),  # benchmarking range
        ("192.0.2.1", False),  # documentation
        ("2001:db8::1", False),
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_address_table(address: str, public: bool) -> None:
    assert (address_problem(ipaddress.ip_address(address)) is None) is public


def resolver_for(table: dict[str, list[str]], calls: list[str]) -> Fetcher:
    async def resolve(host: str, port: int) -> list[Address]:
        calls.append(host)
        return [ipaddress.ip_address(a) for a in table[host]]

    return Fetcher(resolver=resolve)


async def test_every_resolved_address_is_checked() -> None:
    calls: list[str] = []
    fetcher = resolver_for(
        {"inside.test": ["10.1.2.3"], "mixed.test": ["93.184.216.34", "127.0.0.1"]}, calls
    )
    with pytest.raises(UrlRefused, match=r"'inside.test' is 10.1.2.3, a private address"):
        await fetcher.check("http://inside.test/a.jpg")
    with pytest.raises(UrlRefused, match=r"'mixed.test' is 127.0.0.1, a loopback"):
        await fetcher.check("https://mixed.test/a.jpg")


async def test_connection_goes_to_the_checked_address() -> None:
    """No DNS-rebinding window: one resolution per hop, and the request is sent to the
    address that was checked, with the original Host header and TLS server name."""
    calls: list[str] = []
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding DNS server
    seen: list[httpx.Request] = []

    async def resolve(host: str, port: int) -> list[Address]:
        calls.append(host)
        return [ipaddress.ip_address(a) for a in next(answers)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"\x89PNG\r\n\x1a\n" + bytes(32))

    fetcher = Fetcher(resolver=resolve, transport=httpx.MockTransport(handler))
    data = await fetcher.fetch("https://images.test:8443/cat.png?size=1")
    assert data.startswith(b"\x89PNG")
    assert calls == ["images.test"]
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/cat.png?size=1"
    assert request.headers["host"] == "images.test:8443"
    assert request.extensions["sni_hostname"] == "images.test"


async def test_redirects_are_checked_hop_by_hop_and_bounded() -> None:
    """A public host redirecting to the metadata service, or looping, is refused."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/loop":
            return httpx.Response(302, headers={"Location": "/loop"})
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    async def resolve(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("93.184.216.34")]

    fetcher = Fetcher(resolver=resolve, transport=httpx.MockTransport(handler))
    with pytest.raises(UrlRefused, match=r"169\.254\.169\.254, a link-local"):
        await fetcher.fetch("http://images.test/a.jpg")
    with pytest.raises(UrlRefused, match="redirected more than 3 times"):
        await fetcher.fetch("http://images.test/loop")


def test_allow_list_parsing() -> None:
    policy = AddressPolicy.parse(" 127.0.0.1, 10.0.0.0/8 ,Images.Internal., [::1] ")
    assert policy.problem(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.problem(ipaddress.ip_address("10.200.0.1")) is None
    assert policy.problem(ipaddress.ip_address("::1")) is None
    assert policy.problem(ipaddress.ip_address("127.0.0.2")) == "a loopback address"
    assert policy.host_allowed("images.internal")
    assert not policy.host_allowed("other.internal")
    assert AddressPolicy.parse("*").problem(ipaddress.ip_address("10.0.0.1")) is None
    for bad in ("10.0.0.0/33", "not/a/cidr", "1.2.3.4:80"):
        with pytest.raises(ConfigError, match="GATEWAY_FETCH_ALLOW"):
            AddressPolicy.parse(bad)


@pytest.fixture
async def strict(model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the default policy: only public addresses (none reachable here)."""
    async with serving(settings_for(model_dir, fetch_allow=""), "http://gateway.test") as client:
        yield client


def dialect_requests(url: str) -> list[tuple[str, str, dict[str, object], str]]:
    """(method, path, httpx kwargs, error key) of each dialect that takes an image URL."""
    return [
        ("GET", f"/det/1?api_key={TEST_KEY}&image={quote(url, safe='')}", {}, "message"),
        (
            "POST",
            "/infer/object_detection",
            {"json": {"model_id": "det/1", "api_key": TEST_KEY, "image": {"type": "url",
                                                                           "value": url}}},
            "message",
        ),
        (
            "POST",
            "/v0.7/recognition/versions/1/inference",
            {"json": {"inputs": [{"image": {"source": url}}]}, "headers": {"X-API-KEY": TEST_KEY}},
            "error",
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/a.jpg", "loopback"),
        ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://[::ffff:10.0.0.1]/a.jpg", "private"),
        ("file:///etc/passwd", "http"),
    ],
)
async def test_every_dialect_refuses_with_400(
    strict: httpx.AsyncClient, url: str, reason: str
) -> None:
    for method, path, kwargs, key in dialect_requests(url):
        response = await strict.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 400, (path, response.text)
        assert reason in str(response.json()[key]), (path, response.text)


async def test_redirect_from_an_allowed_host_to_a_forbidden_one(
    model_dir: Path, jpeg_bytes: bytes
) -> None:
    """127.0.0.1 is allowed, 127.0.0.2 (also this machine) is not: the redirect is refused
    before any connection to it, and allowing it too makes the same request succeed."""
    inner_hits: list[str] = []
    with (
        serve_images({"/a.jpg": jpeg_bytes}, host="127.0.0.2", hits=inner_hits) as inner,
        serve_images({}) as outer,
    ):
        url = quote(f"{outer}/goto/{quote(inner + '/a.jpg', safe='')}", safe="")
        for allow, status in (("127.0.0.1", 400), ("127.0.0.1,127.0.0.2", 200)):
            async with serving(
                settings_for(model_dir, fetch_allow=allow), "http://gw.test"
            ) as client:
                response = await client.get(f"/det/1?api_key={TEST_KEY}&image={url}")
            assert response.status_code == status, response.text
            if status == 400:
                assert "127.0.0.2, a loopback address" in response.json()["message"]
                assert inner_hits == []
    assert inner_hits == ["/a.jpg"]
