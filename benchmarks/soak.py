"""Soak: mixed good and hostile traffic against a gateway for a set time.

    python benchmarks/soak.py [--duration 60] [--concurrency 8] [--seed 1] [--json FILE]
    python benchmarks/soak.py --url http://127.0.0.1:9001 [--pid PID] ...

Without --url it starts its own gateway (`gateway serve` on a free port of 127.0.0.1,
the bundled configs, a temporary task database, GATEWAY_FETCH_ALLOW=127.0.0.1) and
stops it at the end. It also serves models/examples over HTTP on 127.0.0.1 for the
`?image=` / `url` inputs, and the same files on 127.0.0.2, a destination the gateway
must refuse to fetch from (SSRF), directly or through a redirect.

N workers loop over a seeded, weighted random mix of request kinds (every kind is
sent once before the weighted draw starts): good requests of every dialect (Roboflow
hosted routes, inference-server v1, SageMaker, matting, Deepomatic v0.7 with task
polling), which must answer 200, and hostile ones (broken images, a PNG bomb, an
oversized body, bad keys, bad parameters, private URLs, wrong media types, JSON
that is not an object), which must answer 4xx. Never a 5xx.

The server's resident memory (VmRSS of /proc/PID/status) is sampled every
--sample-every seconds: the report gives the first sample after the warm-up (the
first 10 % of the run), the last, the max, and the growth between the two.

Exit status 1 if any 5xx came back, a request failed at the transport level
(connection reset, timeout...) or the gateway died; with --strict also when a good
kind did not get a 200 or a hostile one did not get a 4xx. 0 otherwise; 2 when the
gateway could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/soak.py`: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    DEMO_KEY,
    EXAMPLES,
    GatewayFailed,
    memory_report,
    mib,
    percentile,
    sample_memory,
    started_gateway,
)

WARMUP_FRACTION = 0.1
OVER_LIMIT = 4 * 1024 * 1024  # body_too_large: the gateway's default body limit + 4 MiB
BOMB_SIDE = 20_000
MAX_ERROR_SAMPLES = 3  # transport errors kept in words, per kind
POLL_EVERY = 0.05  # Deepomatic task polling
POLL_TIMEOUT = 30.0
METADATA_URL = "http://169.254.169.254/latest/meta-data/"

Expect = Literal["200", "4xx"]


# --------------------------------------------------------------------------- payloads


def png_chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data)
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A valid, complete 1-bit greyscale PNG of side x side black pixels.

    About 50 KB on the wire (deflate tops out near 1000:1, and 1 bit per pixel is the
    least PNG allows), side * side * 3 bytes once decoded to BGR: 1.2 GB at 20000. The
    rows are compressed one at a time, never built whole.
    """
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # depth 1, greyscale
    row = bytes(1 + (side + 7) // 8)  # filter byte 0 + packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Payloads:
    """Every body the kinds send, built once (base64 too: the client shares the CPU)."""

    scene: bytes  # scene-1.jpg
    scene2: bytes
    truncated: bytes
    random_bytes: bytes
    bomb: bytes
    oversized: bytes
    scene_b64: str
    scene2_b64: str
    crop_b64: str
    matte_b64: str

    @classmethod
    def build(cls, rng: random.Random, oversized: int) -> Payloads:
        def read(name: str) -> bytes:
            return (EXAMPLES / name).read_bytes()

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        scene, scene2 = read("scene-1.jpg"), read("scene-2.jpg")
        return cls(
            scene=scene,
            scene2=scene2,
            truncated=scene[: len(scene) // 2],
            random_bytes=rng.randbytes(64 * 1024),
            bomb=png_bomb(),
            oversized=rng.randbytes(1024) * (oversized // 1024 + 1),
            scene_b64=b64(scene),
            scene2_b64=b64(scene2),
            crop_b64=b64(read("crop-circle.jpg")),
            matte_b64=b64(read("matte-scene.jpg")),
        )


# --------------------------------------------------------------------- image servers


class ImageServers:
    """models/examples over HTTP: `base` on 127.0.0.1 (allowed), `private` on 127.0.0.2.

    `{base}/redirect/NAME` redirects to `{private}/NAME`. Where 127.0.0.2 cannot be
    bound, `private` names a closed port there (still a destination to refuse).
    """

    def __init__(self) -> None:
        self._servers: list[ThreadingHTTPServer] = []
        private = self._start("127.0.0.2", "")
        if private is None:
            self.private = "http://127.0.0.2:9"
        else:
            self.private = private
        base = self._start("127.0.0.1", self.private)
        if base is None:
            raise OSError("cannot serve the example images on 127.0.0.1")
        self.base = base

    def _start(self, host: str, redirect_to: str) -> str | None:
        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(EXAMPLES), **kwargs)

            def do_GET(self) -> None:
                if redirect_to and self.path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", redirect_to + self.path.removeprefix("/redirect"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        try:
            server = ThreadingHTTPServer((host, 0), Handler)
        except OSError:
            return None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return f"http://{host}:{server.server_address[1]}"

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


# ----------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Context:
    client: httpx.AsyncClient
    payloads: Payloads
    images: ImageServers
    key: str


# A kind's outcome: an HTTP status ("200", "413"), or what went wrong ("200-bad-body").
Send = Callable[[Context], Awaitable[str]]
Check = Callable[[httpx.Response], bool]


@dataclass(frozen=True)
class Kind:
    name: str
    expect: Expect
    weight: float
    send: Send


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def json_with(key: str) -> Check:
    return lambda response: key in json_object(response)


def starts_with(signature: bytes) -> Check:
    return lambda response: response.content.startswith(signature)


def request(
    method: str, path: str, check: Check | None = None, **options: Callable[[Context], Any] | Any
) -> Send:
    """One HTTP request; each httpx option may be a function of the context."""

    async def send(ctx: Context) -> str:
        kwargs = {k: v(ctx) if callable(v) else v for k, v in options.items()}
        response = await ctx.client.request(method, path, **kwargs)
        if response.status_code == 200 and check is not None and not check(response):
            return "200-bad-body"
        return str(response.status_code)

    return send


def deepomatic_task(spec: str, source: Callable[[Context], str]) -> Send:
    """POST an inference, then poll its task until it is done: "200" only for a success."""

    async def send(ctx: Context) -> str:
        headers = key_header(ctx)
        body = {"inputs": [{"image": {"source": source(ctx)}}], "show_discarded": True}
        response = await ctx.client.post(
            f"/v0.7/recognition/public/{spec}/inference", json=body, headers=headers
        )
        if response.status_code != 200:
            return str(response.status_code)
        task_id = json_object(response).get("task_id")
        if task_id is None:
            return "200-bad-body"
        deadline = time.monotonic() + POLL_TIMEOUT
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_EVERY)
            poll = await ctx.client.get(f"/v0.7/tasks/{task_id}/", headers=headers)
            if poll.status_code != 200:
                return str(poll.status_code)
            task = json_object(poll)
            if task.get("status") == "success":
                return "200" if "outputs" in (task.get("data") or {}) else "200-bad-body"
            if task.get("status") != "pending":
                return "200-task-error"
        return "task-timeout"

    return send


# The pieces the kinds are made of: functions of the context, or constants.


def keyed(**params: str) -> Callable[[Context], dict[str, str]]:
    """Query parameters with the API key."""
    return lambda ctx: {"api_key": ctx.key, **params}


def key_header(ctx: Context) -> dict[str, str]:
    return {"X-API-KEY": ctx.key}


def served(name: str) -> Callable[[Context], str]:
    """URL of an example image on the local image server (allowed)."""
    return lambda ctx: f"{ctx.images.base}/{name}"


def private(name: str) -> Callable[[Context], str]:
    """URL of an example image on 127.0.0.2 (to be refused)."""
    return lambda ctx: f"{ctx.images.private}/{name}"


def image_param(url: Callable[[Context], str]) -> Callable[[Context], dict[str, str]]:
    return lambda ctx: {"api_key": ctx.key, "image": url(ctx)}


def scene(ctx: Context) -> bytes:
    return ctx.payloads.scene


def scene_b64(ctx: Context) -> str:
    return ctx.payloads.scene_b64


def data_uri(ctx: Context) -> str:
    return "data:image/jpeg;base64," + ctx.payloads.scene_b64


def matte_json(ctx: Context) -> dict[str, str]:
    return {"img": ctx.payloads.matte_b64}


def v1_body(ctx: Context) -> dict[str, Any]:
    image = {"type": "base64", "value": ctx.payloads.scene_b64}
    return {"model_id": "shapes-seg/1", "api_key": ctx.key, "confidence": 0.4, "image": image}


def repeated(ctx: Context) -> list[tuple[str, str]]:
    """Every parameter twice; each value of confidence and format is invalid."""
    return [
        *(("api_key", ctx.key), ("api_key", ctx.key)),
        *(("confidence", "abc"), ("confidence", "-1"), ("format", "bogus"), ("format", "x")),
    ]


DETECT = "/detect/shapes-detect/1"
OUTLINE = "/outline/shapes-seg/1"
MATTING = "/human_image_segmentation"
DEEPOMATIC = "/v0.7/recognition/public/shapes-detect-v1/inference"
KEYED = keyed()
JPEG_BODY = {"Content-Type": "image/jpeg"}
PREDICTIONS = json_with("predictions")


def good(name: str, weight: float, method: str, path: str, check: Check, **options: Any) -> Kind:
    return Kind(name, "200", weight, request(method, path, check, **options))


def bad(name: str, method: str, path: str, weight: float = 1.0, **options: Any) -> Kind:
    return Kind(name, "4xx", weight, request(method, path, **options))


def bad_rf(name: str, weight: float = 1.0, path: str = DETECT, **options: Any) -> Kind:
    """A hostile Roboflow request: by default the scene as base64, with the key."""
    options.setdefault("params", KEYED)
    options.setdefault("content", scene_b64)
    return bad(name, "POST", path, weight, **options)


def bad_url(name: str, url: Callable[[Context], str]) -> Kind:
    """A Roboflow `?image=` URL the gateway must not or cannot use."""
    return bad_rf(name, params=image_param(url), content=b"")


# fmt: off
GOOD = [
    # Roboflow hosted routes: base64 bodies (wrapped at 76 columns as `base64` writes them,
    # plain, or a data URI), multipart, raw bytes, ?image= URLs, the bare route and GET,
    # the annotated-image format.
    good("rf_detect_b64_wrapped", 4, "POST", DETECT, PREDICTIONS,
         params=keyed(confidence="50", overlap="30"),
         content=lambda c: base64.encodebytes(c.payloads.scene),
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    good("rf_outline_b64", 3, "POST", OUTLINE, PREDICTIONS, params=KEYED, content=scene_b64),
    good("rf_segment_b64", 3, "POST", "/segment/shapes-semantic/1",
         json_with("segmentation_mask"), params=KEYED, content=lambda c: c.payloads.scene2_b64),
    good("rf_classify_data_uri", 3, "POST", "/classify/shapes-cls/1", json_with("top"),
         params=KEYED, content=lambda c: "data:image/jpeg;base64," + c.payloads.crop_b64),
    good("rf_outline_multipart", 3, "POST", OUTLINE, PREDICTIONS, params=KEYED,
         files=lambda c: {"file": ("imageToUpload", c.payloads.scene, "image/jpeg")}),
    good("rf_detect_raw_jpeg", 2, "POST", DETECT, PREDICTIONS,
         params=KEYED, content=lambda c: c.payloads.scene2, headers=JPEG_BODY),
    good("rf_detect_url", 3, "POST", DETECT, PREDICTIONS,
         params=image_param(served("scene-3.jpg"))),
    good("rf_bare_get_url", 2, "GET", "/shapes-seg/1", PREDICTIONS,
         params=image_param(served("scene-1.jpg"))),
    good("rf_outline_format_image", 2, "POST", OUTLINE, starts_with(b"\xff\xd8\xff"),
         params=keyed(format="image", labels="true", stroke="2"), content=scene_b64),
    # inference-server v1 (inference-sdk)
    good("v1_infer_instance", 2, "POST", "/infer/instance_segmentation", PREDICTIONS,
         json=v1_body),
    # SageMaker: mounted in the default profile too
    good("sagemaker_json", 3, "POST", "/invocations", json_with("labels"),
         content=scene, headers={**JPEG_BODY, "Accept": "application/json"}),
    good("sagemaker_endpoint_png", 1, "POST", "/endpoints/soak/invocations",
         starts_with(b"\x89PNG\r\n\x1a\n"),
         content=scene, headers={**JPEG_BODY, "Accept": "image/png"}),
    # matting
    good("matting_b64", 2, "POST", MATTING, json_with("result"),
         json=matte_json, headers=key_header),
    good("matting_url_foreground", 1, "POST", "/human-segmentation", json_with("result"),
         json=lambda c: {"url": served("matte-scene.jpg")(c), "type": "foreground"},
         headers=key_header),
    # Deepomatic v0.7: an inference task, polled until it is done
    Kind("deepomatic_task_b64", "200", 2, deepomatic_task("shapes-detect-v1", data_uri)),
    Kind("deepomatic_task_url", "200", 1,
         deepomatic_task("shapes-cls-v1", served("crop-star.jpg"))),
]

HOSTILE = [
    # images that are not images, or too much of one
    bad_rf("empty_body", content=b""),
    bad_rf("bad_base64", content=b"@@@ this is *not* base64 ###"),
    bad_rf("base64_not_image", content=base64.b64encode(b"hello, world\n" * 10)),
    bad_rf("truncated_jpeg", content=lambda c: c.payloads.truncated, headers=JPEG_BODY),
    bad_rf("random_bytes", content=lambda c: c.payloads.random_bytes),
    bad_rf("png_bomb", 0.5, content=lambda c: c.payloads.bomb,
           headers={"Content-Type": "image/png"}),
    bad_rf("body_too_large", 0.5, content=lambda c: c.payloads.oversized, headers=JPEG_BODY),
    # keys and models
    bad_rf("wrong_key", params={"api_key": "not-a-key"}),
    bad_rf("missing_key", params={}),
    bad_rf("control_chars_key", params={"api_key": "\x00\x1b[2J\u202e" + DEMO_KEY}),
    bad_rf("unknown_model", path="/detect/no-such-model/1"),
    bad_rf("family_mismatch", path="/classify/shapes-detect/1"),
    # parameters
    bad_rf("confidence_negative", params=keyed(confidence="-5")),
    bad_rf("confidence_nan", params=keyed(confidence="NaN")),
    bad_rf("confidence_huge", params=keyed(confidence="1e309")),
    bad_rf("overlap_text", params=keyed(overlap="thirty")),
    bad_rf("max_detections_zero", params=keyed(max_detections="0")),
    bad_rf("unicode_control_params",
           params=keyed(format="jsön\u202e\x00", name="\U0001f4a5\x07\r\n", classes="☃,\x7f")),
    bad_rf("repeated_params", params=repeated),
    # URLs the gateway must not (or cannot) fetch
    bad_url("url_private_127_0_0_2", private("scene-1.jpg")),
    bad_url("url_redirect_to_private", served("redirect/scene-1.jpg")),
    bad_url("url_metadata_service", lambda c: METADATA_URL),
    bad_url("url_not_an_image", served("scene-1.json")),
    bad_url("url_not_found", served("no-such-image.jpg")),
    bad_url("url_file_scheme", lambda c: "file:///etc/passwd"),
    bad("matting_url_private", "POST", MATTING,
        json=lambda c: {"url": private("matte-scene.jpg")(c)}, headers=key_header),
    # wrong media types and headers
    bad("sagemaker_text_plain", "POST", "/invocations",
        content=scene, headers={"Content-Type": "text/plain"}),
    bad("sagemaker_bad_accept", "POST", "/invocations",
        content=scene, headers={**JPEG_BODY, "Accept": "text/html"}),
    bad("sagemaker_bad_attributes", "POST", "/invocations", content=scene,
        headers={**JPEG_BODY, "X-Amzn-SageMaker-Custom-Attributes": '{"threshold": NaN'}),
    bad("matting_form_body", "POST", MATTING, data=matte_json, headers=key_header),
    bad("deepomatic_text_plain", "POST", DEEPOMATIC, content=b"inputs=scene.jpg",
        headers=lambda c: {**key_header(c), "Content-Type": "text/plain"}),
    # JSON that is not an object, or not JSON
    bad("matting_json_list", "POST", MATTING, json=[1, 2, 3], headers=key_header),
    bad("matting_invalid_json", "POST", MATTING, content=b'{"img": ',
        headers=lambda c: {**key_header(c), "Content-Type": "application/json"}),
    bad("matting_url_and_img", "POST", MATTING, headers=key_header,
        json=lambda c: {**matte_json(c), "url": served("scene-1.jpg")(c)}),
    bad("deepomatic_json_string", "POST", DEEPOMATIC, json="not an object", headers=key_header),
    bad("deepomatic_empty_inputs", "POST", DEEPOMATIC, json={"inputs": []}, headers=key_header),
    bad("v1_infer_json_list", "POST", "/infer/object_detection",
        json=[{"model_id": "shapes-detect/1"}]),
    bad("v1_infer_pickle_image", "POST", "/infer/instance_segmentation",
        json=lambda c: {**v1_body(c), "image": {"type": "pickle", "value": "Y29zCnN5c3RlbQo="}}),
    # Deepomatic keys and lookups
    bad("deepomatic_missing_key", "POST", DEEPOMATIC,
        json={"inputs": [{"image": {"source": METADATA_URL}}]}),
    bad("deepomatic_unknown_spec", "GET", "/v0.7/recognition/public/no-such-spec/",
        headers=key_header),
    bad("deepomatic_unknown_task", "GET", "/v0.7/tasks/999999999/", headers=key_header),
]
# fmt: on
KINDS = GOOD + HOSTILE


# ------------------------------------------------------------------------ statistics


@dataclass
class KindStats:
    labels: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first transport errors, in words

    def unexpected(self, expect: Expect) -> int:
        return sum(n for label, n in self.labels.items() if not meets(label, expect))


def meets(label: str, expect: Expect) -> bool:
    if expect == "200":
        return label == "200"
    return len(label) == 3 and label.startswith("4")


def is_5xx(label: str) -> bool:
    return len(label) == 3 and label.startswith("5")


def is_transport(label: str) -> bool:
    return label.startswith("transport:")


class Picker:
    """Every kind once, in a seeded shuffled order; then weighted random draws."""

    def __init__(self, kinds: Sequence[Kind], rng: random.Random) -> None:
        self.kinds = list(kinds)
        self.weights = [kind.weight for kind in kinds]
        self.rng = rng
        self.first_round = deque(rng.sample(self.kinds, len(self.kinds)))

    def next(self) -> Kind:
        if self.first_round:
            return self.first_round.popleft()
        return self.rng.choices(self.kinds, weights=self.weights)[0]


# ----------------------------------------------------------------------------- soak


async def soak(
    url: str,
    kinds: Sequence[Kind],
    args: argparse.Namespace,
    pid: int | None,
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    oversized = args.oversize_mb * 1024 * 1024 if args.oversize_mb else default_oversize()
    payloads = Payloads.build(random.Random(args.seed), int(oversized))
    images = ImageServers()
    stats = {kind.name: KindStats() for kind in kinds}
    picker = Picker(kinds, rng)
    requests = 0
    started = time.monotonic()
    deadline = started + args.duration
    samples: list[dict[str, float]] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=2 * args.concurrency)
    timeout = httpx.Timeout(args.timeout, connect=10)

    async def count(request: httpx.Request) -> None:
        nonlocal requests
        requests += 1

    async def worker(ctx: Context) -> None:
        while time.monotonic() < deadline:
            kind = picker.next()
            kind_stats = stats[kind.name]
            began = time.perf_counter()
            try:
                outcome = await kind.send(ctx)
            except httpx.TransportError as exc:
                outcome = f"transport:{type(exc).__name__}"
                if len(kind_stats.errors) < MAX_ERROR_SAMPLES:
                    kind_stats.errors.append(f"t={time.monotonic() - started:.2f}s {exc!r}")
            kind_stats.latencies.append(time.perf_counter() - began)
            kind_stats.labels[outcome] += 1

    try:
        async with httpx.AsyncClient(
            base_url=url,
            timeout=timeout,
            limits=limits,
            trust_env=False,
            event_hooks={"request": [count]},
        ) as client:
            ctx = Context(client, payloads, images, args.api_key)

            sampler = (
                asyncio.create_task(sample_memory(pid, args.sample_every, started, samples, stop))
                if pid is not None
                else None
            )
            await asyncio.gather(*(worker(ctx) for _ in range(args.concurrency)))
            elapsed = time.monotonic() - started
            stop.set()
            if sampler is not None:
                await sampler
    finally:
        images.close()
    return build_report(kinds, stats, requests, elapsed, args, url, pid, samples)


def build_report(
    kinds: Sequence[Kind],
    stats: Mapping[str, KindStats],
    requests: int,
    elapsed: float,
    args: argparse.Namespace,
    url: str,
    pid: int | None,
    samples: list[dict[str, float]],
) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    per_kind: dict[str, Any] = {}
    for kind in kinds:
        kind_stats = stats[kind.name]
        totals.update(kind_stats.labels)
        latencies = kind_stats.latencies
        per_kind[kind.name] = {
            "expect": kind.expect,
            "count": sum(kind_stats.labels.values()),
            "statuses": dict(sorted(kind_stats.labels.items())),
            "unexpected": kind_stats.unexpected(kind.expect),
            "transport_errors": kind_stats.errors,
            "latency_ms": {
                name: round(1000 * percentile(latencies, p), 1)
                for name, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
            },
        }
    return {
        "url": url,
        "duration_s": round(elapsed, 2),
        "concurrency": args.concurrency,
        "seed": args.seed,
        "sent": sum(totals.values()),
        "http_requests": requests,
        "requests_per_s": round(requests / elapsed, 2) if elapsed else 0.0,
        "totals_by_status": dict(sorted(totals.items())),
        "five_xx": sum(n for label, n in totals.items() if is_5xx(label)),
        "transport_errors": sum(n for label, n in totals.items() if is_transport(label)),
        "unexpected": sum(k["unexpected"] for k in per_kind.values()),
        "unexpected_kinds": sorted(name for name, k in per_kind.items() if k["unexpected"]),
        "kinds": per_kind,
        "memory": (
            memory_report(pid, samples, WARMUP_FRACTION * args.duration)
            if pid is not None
            else None
        ),
    }


# --------------------------------------------------------------------------- gateway


def default_oversize() -> int:
    """A body size over the gateway's default limit (GATEWAY_MAX_BODY_BYTES unset)."""
    sys.path.insert(0, str(ROOT))
    from gateway.settings import Settings

    return Settings.max_body_bytes + OVER_LIMIT


def last_traceback(log: Path) -> str | None:
    text = log.read_text(errors="replace")
    at = text.rfind("Traceback (most recent call last)")
    return text[max(0, text.rfind("\n", 0, at - 200)) : at + 3000] if at >= 0 else None


# ---------------------------------------------------------------------------- output


def print_report(report: Mapping[str, Any], out: Any = sys.stdout) -> None:
    kinds: Mapping[str, Any] = report["kinds"]
    labels = sorted(
        {label for k in kinds.values() for label in k["statuses"]},
        key=lambda label: (not label[:3].isdigit(), label),
    )
    width = max(len(name) for name in kinds) + 2
    head = f"{'kind':<{width}}{'expect':>7}{'n':>6}"
    head += "".join(f"{label:>{max(6, len(label) + 1)}}" for label in labels)
    head += f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for name, kind in kinds.items():
        row = f"{name:<{width}}{kind['expect']:>7}{kind['count']:>6}"
        for label in labels:
            count = kind["statuses"].get(label, 0)
            row += f"{count or '.':>{max(6, len(label) + 1)}}"
        latency = kind["latency_ms"]
        row += f"{latency['p50']:>9.1f}{latency['p95']:>9.1f}{latency['max']:>9.1f}"
        print(row + ("   <- unexpected" if kind["unexpected"] else ""), file=out)
    print("-" * len(head), file=out)
    totals = "  ".join(f"{label}: {n}" for label, n in report["totals_by_status"].items())
    print(f"totals by status: {totals}", file=out)
    print(
        f"{report['sent']} kinds sent, {report['http_requests']} HTTP requests in "
        f"{report['duration_s']} s ({report['requests_per_s']} req/s), "
        f"concurrency {report['concurrency']}, seed {report['seed']}",
        file=out,
    )
    print(f"5xx: {report['five_xx']}   transport errors: {report['transport_errors']}", file=out)
    if report["unexpected_kinds"]:
        print(
            f"unexpected statuses ({report['unexpected']}): "
            + ", ".join(report["unexpected_kinds"]),
            file=out,
        )
    for name, kind in kinds.items():
        for error in kind["transport_errors"]:
            print(f"  {name}: {error}", file=out)
    memory = report.get("memory")
    if memory and "last_kb" in memory:
        print(
            f"server RSS (pid {memory['pid']}, {len(memory['samples'])} samples): "
            f"first after warm-up {mib(memory['first_after_warmup_kb'])} "
            f"(t={memory['first_after_warmup_t']} s), last {mib(memory['last_kb'])}, "
            f"max {mib(memory['max_kb'])}, growth {100 * memory['growth']:+.1f} %"
            + (f", peak (VmHWM) {mib(memory['peak_hwm_kb'])}" if "peak_hwm_kb" in memory else ""),
            file=out,
        )
    server = report.get("server")
    if server:
        code = server["exit_code"]
        status = "running at the end" if code is None else f"EXITED with status {code}"
        log = server["log"] or "its log (keep it with --gateway-log FILE)"
        print(f"gateway: {status}; {server['tracebacks']} traceback(s) in {log}", file=out)


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent workers")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request mix")
    parser.add_argument("--url", help="a running gateway (default: start one)")
    parser.add_argument("--pid", type=int, help="the running gateway's PID, for its memory")
    parser.add_argument("--api-key", default=DEMO_KEY)
    parser.add_argument("--sample-every", type=float, default=2.0, help="RSS sampling period")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout")
    parser.add_argument("--start-timeout", type=float, default=60.0, help="gateway start limit")
    parser.add_argument("--json", type=Path, help="write the full report (samples too) here")
    parser.add_argument("--gateway-log", type=Path, help="keep the started gateway's log here")
    parser.add_argument(
        "--oversize-mb",
        type=float,
        help="body size of body_too_large in MiB (default: the default body limit + 4 MiB)",
    )
    parser.add_argument("--only", help="comma-separated kinds to send (default: all)")
    parser.add_argument("--skip", help="comma-separated kinds not to send")
    parser.add_argument("--list-kinds", action="store_true", help="list the kinds and exit")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started gateway (repeatable)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also fail when a good kind did not get 200 or a hostile one not 4xx",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.sample_every <= 0:
        parser.error("--concurrency, --duration and --sample-every must be positive")
    if not all("=" in item for item in args.gateway_env):
        parser.error("--gateway-env takes NAME=VALUE")
    return args


def select_kinds(args: argparse.Namespace) -> list[Kind]:
    kinds = KINDS
    names = {kind.name for kind in kinds}
    only = set(args.only.split(",")) if args.only else names
    skip = set(args.skip.split(",")) if args.skip else set()
    unknown = (only | skip) - names
    if unknown:
        raise SystemExit(f"soak: unknown kind(s): {', '.join(sorted(unknown))}")
    return [kind for kind in kinds if kind.name in only - skip]


def soak_own_gateway(kinds: Sequence[Kind], args: argparse.Namespace) -> dict[str, Any]:
    """Start a gateway, soak it, stop it; the report says how the gateway fared too."""
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        log = args.gateway_log or workdir / "gateway.log"
        with started_gateway(workdir, log, args.start_timeout, args.gateway_env) as (base, process):
            report = asyncio.run(soak(base, kinds, args, process.pid))
            exit_code = process.poll()
        text = log.read_text(errors="replace")
        report["server"] = {
            "exit_code": exit_code,
            "log": str(args.gateway_log) if args.gateway_log else None,
            "tracebacks": text.count("Traceback (most recent call last)"),
        }
        excerpt = last_traceback(log)
        if excerpt:
            print(f"last traceback in the gateway's log:\n{excerpt}\n", file=sys.stderr)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = select_kinds(args)
    if args.list_kinds:
        for kind in kinds:
            print(f"{kind.name:<28} expect {kind.expect:<4} weight {kind.weight:g}")
        return 0
    if not kinds:
        raise SystemExit("soak: no kinds left to send")
    if args.url:
        report = asyncio.run(soak(args.url.rstrip("/"), kinds, args, args.pid))
    else:
        try:
            report = soak_own_gateway(kinds, args)
        except GatewayFailed as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 2
    print_report(report)
    failed = (
        report["five_xx"] > 0
        or report["transport_errors"] > 0
        or (report.get("server") or {}).get("exit_code") is not None
        or (args.strict and report["unexpected"] > 0)
    )
    report["ok"] = not failed
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
