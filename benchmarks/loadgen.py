"""Load generator: one Roboflow-route request, sent over and over, for throughput and latency.

    python benchmarks/loadgen.py [--model shapes-detect/1] [--form base64|multipart|url|raw]
                                 [--concurrency 8] [--duration 10] [--warmup 2] [--json FILE]
    python benchmarks/loadgen.py --rate 50 ...          open loop: 50 arrivals/s
    python benchmarks/loadgen.py --requests 10000 ...   stop after 10000 measured requests
    python benchmarks/loadgen.py --url http://127.0.0.1:9001 [--pid PID] ...

Without --url it starts its own gateway (`gateway serve` on a free port of 127.0.0.1,
the bundled configs, a temporary task database, GATEWAY_FETCH_ALLOW=127.0.0.1) and
stops it at the end.

Each request is `POST /{model}?api_key=KEY&confidence=40&overlap=30` with the image
(--image, default models/examples/bench-640x480.jpg, else scene-1.jpg) as base64 text
(what the roboflow SDK sends), a multipart part `file`, raw bytes, or an `?image=` URL
(--image-url, else the image served by this process on 127.0.0.1). The request bytes
are built once; each worker owns one keep-alive HTTP/1.1 connection (asyncio streams,
no HTTP library), so that the client costs little of the CPU it shares with the server.

Closed loop (default): --concurrency workers, each sending its next request when the
previous one is answered. Open loop (--rate R): arrivals at i/R seconds, at most
--concurrency outstanding; an arrival finding them all busy is dropped (counted, not
queued), and latency runs from the scheduled time (no coordinated omission).
Requests sent during the first --warmup seconds are not counted.

Reports the requests answered OK (200 with a JSON `predictions` list) and their rate,
latency p50/p90/p99/max of those, errors by kind (HTTP status or exception class),
dropped arrivals, the predictions in the last OK answer, the client's own CPU (cores
used, and % of the machine's), and, when the gateway's pid is known (started here or
--pid), its resident memory: first sample after the warm-up, last, max and growth.
Exit status 1 if any request failed or none succeeded, 0 otherwise; 2 when the gateway
could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, get_args

import orjson

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/loadgen.py`: make `benchmarks` importable
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
from benchmarks.http1 import Connection, ImageServer  # noqa: E402

BENCH_IMAGE = EXAMPLES / "bench-640x480.jpg"
FALLBACK_IMAGE = EXAMPLES / "scene-1.jpg"
BOUNDARY = "loadgen-7d1f0c2b"
# Timeouts, refused or reset connections (OSError), early EOF, answers that are not HTTP.
TRANSPORT_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError, ValueError)

Form = Literal["base64", "multipart", "url", "raw"]


def default_image() -> Path:
    return BENCH_IMAGE if BENCH_IMAGE.exists() else FALLBACK_IMAGE


@dataclass(frozen=True)
class LoadConfig:
    """What to send, and how much of it."""

    model: str = "shapes-detect/1"
    form: Form = "base64"
    image: Path = field(default_factory=default_image)
    image_url: str | None = None  # `url` form: the gateway fetches this (default: served here)
    api_key: str = DEMO_KEY
    confidence: int = 40  # percent
    overlap: int = 30  # percent
    concurrency: int = 8  # workers (closed loop), or most outstanding requests (open loop)
    rate: float | None = None  # arrivals per second: open loop
    duration: float = 10.0  # seconds measured (unless `requests` is set)
    warmup: float = 2.0  # seconds first, not counted
    requests: int | None = None  # stop after this many measured requests
    timeout: float = 60.0  # per request
    sample_every: float = 1.0  # server memory sampling period
    keep_alive: bool = True  # False: a new connection per request (Connection: close)

    @property
    def mode(self) -> str:
        return "open" if self.rate else "closed"


@dataclass(frozen=True)
class LoadResult:
    """The measured part of a run (requests sent at or after the warm-up)."""

    mode: str  # "closed" or "open"
    form: str
    model: str
    url: str
    image: str  # the file sent (its URL with the `url` form)
    concurrency: int
    rate: float | None
    keep_alive: bool
    warmup_s: float
    duration_s: float  # wall time measured, up to the last answer
    sent: int  # requests sent (OK + errors)
    requests_ok: int
    requests_per_s: float  # OK only
    p50_ms: float  # latency of the OK requests
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]  # HTTP status, "200-bad-body" or exception class -> count
    error_samples: list[str]  # the first transport error of each kind, in words
    dropped: int  # open loop: arrivals that found every connection busy
    predictions: int | None  # in the last OK answer
    client_cpu_s: float  # this process's CPU time while measuring
    client_cores: float  # client_cpu_s / duration_s
    client_cpu_percent: float  # of os.cpu_count() cores
    cpu_count: int
    memory: dict[str, Any] | None  # harness.memory_report of the gateway, pid known

    @property
    def failed(self) -> bool:
        return bool(self.errors) or self.requests_ok == 0

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": not self.failed}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request's: the predictions of an OK answer, else the error's kind."""

    predictions: int = 0
    error: str | None = None  # HTTP status, "200-bad-body" or exception class name
    detail: str = ""  # an exception's words


def predictions_in(body: bytes) -> int | None:
    """The length of the JSON object's `predictions` list, None when there is none."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
        return len(answer["predictions"])
    return None


async def attempt(connection: Connection, data: bytes, timeout: float) -> Outcome:
    """Send one request; its predictions when it is OK, else the kind of error."""
    try:
        async with asyncio.timeout(timeout):
            response = await connection.request(data)
    except TRANSPORT_ERRORS as exc:
        return Outcome(error=type(exc).__name__, detail=repr(exc))
    if response.status != 200:
        return Outcome(error=str(response.status))
    count = predictions_in(response.body)
    return Outcome(error="200-bad-body") if count is None else Outcome(predictions=count)


# ------------------------------------------------------------------------ requests


def build_request(config: LoadConfig, base_url: str, image_url: str | None) -> bytes:
    """The whole request, head and body, as sent every time."""
    base = urllib.parse.urlsplit(base_url)
    query = {
        "api_key": config.api_key,
        "confidence": str(config.confidence),
        "overlap": str(config.overlap),
    }
    if config.form == "url":
        query["image"] = image_url or ""
    target = f"{base.path.rstrip('/')}/{config.model.strip('/')}?{urllib.parse.urlencode(query)}"
    content_type, body = request_body(config)
    head = f"POST {target} HTTP/1.1\r\nHost: {base.netloc}\r\nContent-Length: {len(body)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    if not config.keep_alive:
        head += "Connection: close\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def request_body(config: LoadConfig) -> tuple[str | None, bytes]:
    """The Content-Type and the body of the chosen form."""
    if config.form == "url":
        return None, b""
    image = config.image.read_bytes()
    if config.form == "base64":
        return "application/x-www-form-urlencoded", base64.b64encode(image)
    if config.form == "raw":
        return "application/octet-stream", image
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{config.image.name}"\r\nContent-Type: image/jpeg\r\n\r\n'
    )
    body = part.encode() + image + f"\r\n--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}", body


# ---------------------------------------------------------------------------- load


@dataclass
class Tally:
    """What the measured requests gave, and the measurement window."""

    start: float  # perf_counter time the measurement starts (after the warm-up)
    end: float  # when no more requests are sent (inf with a request count)
    limit: int | None  # measured requests to send, at most
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, OK requests
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    dropped: int = 0
    predictions: int | None = None
    cpu_start: float = 0.0

    def more(self, at: float) -> bool:
        """Whether to send a request at `at`: before the end, and under the limit."""
        return at < self.end and (self.limit is None or at < self.start or self.sent < self.limit)

    def claim(self, at: float) -> bool:
        """Whether a request sent at `at` is measured; it is then counted as sent."""
        if at < self.start:
            return False
        self.sent += 1
        return True

    def record(self, outcome: Outcome, latency: float) -> None:
        if outcome.error is None:
            self.latencies.append(latency)
            self.predictions = outcome.predictions
            return
        self.errors[outcome.error] += 1
        if outcome.detail and self.errors[outcome.error] == 1:  # the first of each kind
            at = time.perf_counter() - self.start
            self.error_samples.append(f"t={at:.2f}s {outcome.detail}")


async def closed_loop(
    connections: list[Connection], data: bytes, tally: Tally, timeout: float
) -> None:
    async def worker(connection: Connection) -> None:
        while tally.more(began := time.perf_counter()):
            measured = tally.claim(began)
            outcome = await attempt(connection, data, timeout)
            if measured:
                tally.record(outcome, time.perf_counter() - began)

    await asyncio.gather(*(worker(connection) for connection in connections))


async def open_loop(
    connections: list[Connection], data: bytes, tally: Tally, timeout: float, rate: float
) -> None:
    idle = list(connections)  # a stack: the most recently used connection goes out first
    running: set[asyncio.Task[None]] = set()

    async def one(connection: Connection, scheduled: float, measured: bool) -> None:
        outcome = await attempt(connection, data, timeout)
        idle.append(connection)
        if measured:
            tally.record(outcome, time.perf_counter() - scheduled)

    first = time.perf_counter()
    arrival = 0
    while tally.more(scheduled := first + arrival / rate):
        arrival += 1
        await asyncio.sleep(scheduled - time.perf_counter())
        if not idle:
            if scheduled >= tally.start:
                tally.dropped += 1
            continue
        task = asyncio.create_task(one(idle.pop(), scheduled, tally.claim(scheduled)))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)


async def measure_cpu_from(tally: Tally) -> None:
    await asyncio.sleep(tally.start - time.perf_counter())
    tally.cpu_start = time.process_time()


async def run_load(config: LoadConfig, base_url: str, pid: int | None = None) -> LoadResult:
    """Load `base_url` as `config` says; with `pid`, sample the server's memory too."""
    base = urllib.parse.urlsplit(base_url)
    if base.scheme != "http" or not base.hostname:
        raise ValueError(f"loadgen speaks plain http:// only, not {base_url!r}")
    images = ImageServer(config.image) if config.form == "url" and not config.image_url else None
    image_url = await images.start() if images is not None else config.image_url
    data = build_request(config, base_url, image_url)
    connections = [Connection(base.hostname, base.port or 80) for _ in range(config.concurrency)]
    started = time.perf_counter()
    tally = Tally(
        start=started + config.warmup,
        end=started + config.warmup + config.duration if config.requests is None else float("inf"),
        limit=config.requests,
    )
    samples: list[dict[str, float]] = []
    stop = asyncio.Event()
    sampler = None
    if pid is not None:
        sampler = asyncio.create_task(
            sample_memory(pid, config.sample_every, time.monotonic(), samples, stop)
        )
    cpu = asyncio.create_task(measure_cpu_from(tally))
    try:
        if config.rate:
            await open_loop(connections, data, tally, config.timeout, config.rate)
        else:
            await closed_loop(connections, data, tally, config.timeout)
        await cpu
        cpu_s = time.process_time() - tally.cpu_start
        elapsed = time.perf_counter() - tally.start
    finally:
        cpu.cancel()
        stop.set()
        if sampler is not None:
            await sampler
        for connection in connections:
            connection.close()
        if images is not None:
            await images.close()
    memory = memory_report(pid, samples, config.warmup) if pid is not None else None
    image = image_url if config.form == "url" and image_url else str(config.image)
    return summarize(config, base_url, image, tally, max(elapsed, 1e-9), cpu_s, memory)


def summarize(
    config: LoadConfig,
    url: str,
    image: str,
    tally: Tally,
    elapsed: float,
    cpu_s: float,
    memory: dict[str, Any] | None,
) -> LoadResult:
    def ms(fraction: float) -> float:
        return round(1000 * percentile(tally.latencies, fraction), 1)

    cpus = os.cpu_count() or 1
    return LoadResult(
        mode=config.mode,
        form=config.form,
        model=config.model,
        url=url,
        image=image,
        concurrency=config.concurrency,
        rate=config.rate,
        keep_alive=config.keep_alive,
        warmup_s=config.warmup,
        duration_s=round(elapsed, 3),
        sent=tally.sent,
        requests_ok=len(tally.latencies),
        requests_per_s=round(len(tally.latencies) / elapsed, 2),
        p50_ms=ms(0.5),
        p90_ms=ms(0.9),
        p99_ms=ms(0.99),
        max_ms=ms(1.0),
        errors=dict(sorted(tally.errors.items())),
        error_samples=tally.error_samples,
        dropped=tally.dropped,
        predictions=tally.predictions,
        client_cpu_s=round(cpu_s, 3),
        client_cores=round(cpu_s / elapsed, 3),
        client_cpu_percent=round(100 * cpu_s / elapsed / cpus, 1),
        cpu_count=cpus,
        memory=memory,
    )


# ---------------------------------------------------------------------------- output


def report_rows(result: LoadResult) -> list[tuple[str, str]]:
    load = (
        f"open loop, {result.rate:g} req/s, at most {result.concurrency} outstanding"
        if result.rate
        else f"closed loop, concurrency {result.concurrency}"
    )
    errors = ", ".join(f"{kind}: {n}" for kind, n in result.errors.items()) or "none"
    rows = [
        ("mode", load),
        ("model", f"{result.model} at {result.url}"),
        ("form / image", f"{result.form} / {result.image}"),
        ("measured", f"{result.duration_s:.2f} s after a {result.warmup_s:g} s warm-up"),
        ("requests OK", f"{result.requests_ok} of {result.sent} sent"),
        ("req/s (OK)", f"{result.requests_per_s:.1f}"),
        (
            "latency ms",
            f"p50 {result.p50_ms:.1f}   p90 {result.p90_ms:.1f}   "
            f"p99 {result.p99_ms:.1f}   max {result.max_ms:.1f}",
        ),
        ("errors", errors),
        *(("", sample) for sample in result.error_samples),
    ]
    if result.rate:
        rows.append(("dropped", f"{result.dropped} arrivals (all connections busy)"))
    rows += [
        (
            "predictions",
            "no OK answer"
            if result.predictions is None
            else f"{result.predictions} in the last OK answer",
        ),
        (
            "client CPU",
            f"{result.client_cores:.2f} cores ({result.client_cpu_percent:.1f} % of "
            f"{result.cpu_count})",
        ),
    ]
    memory = result.memory
    if memory and "last_kb" in memory:
        rows.append(
            (
                "server RSS",
                f"pid {memory['pid']}, {len(memory['samples'])} samples: first after warm-up "
                f"{mib(memory['first_after_warmup_kb'])}, last {mib(memory['last_kb'])}, "
                f"max {mib(memory['max_kb'])}, growth {100 * memory['growth']:+.1f} %",
            )
        )
    return rows


def print_report(result: LoadResult, out: TextIO = sys.stdout) -> None:
    rows = report_rows(result)
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        print(f"{name:<{width}}{value}", file=out)
    print("FAIL" if result.failed else "OK", file=out)


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--url", help="a running gateway (default: start one)")
    add("--pid", type=int, help="the running gateway's PID, for its memory")
    add("--model", default=defaults.model, help="PROJECT/VERSION")
    add("--form", choices=get_args(Form), default=defaults.form, help="how the image is sent")
    add("--image", type=Path, default=defaults.image, help="JPEG to send")
    add("--image-url", help="--form url: the URL to send (default: serve --image here)")
    add("--api-key", default=defaults.api_key)
    add("--confidence", type=int, default=defaults.confidence, help="percent")
    add("--overlap", type=int, default=defaults.overlap, help="percent")
    add("--concurrency", type=int, default=defaults.concurrency, help="workers / outstanding")
    add("--rate", type=float, help="open loop: arrivals per second")
    add("--duration", type=float, default=defaults.duration, help="seconds measured")
    add("--warmup", type=float, default=defaults.warmup, help="seconds not counted, first")
    add("--requests", type=int, help="stop after this many measured requests")
    add("--timeout", type=float, default=defaults.timeout, help="per-request timeout")
    add("--sample-every", type=float, default=defaults.sample_every, help="RSS sampling period")
    add("--start-timeout", type=float, default=60.0, help="gateway start limit")
    add("--json", type=Path, help="write the report (memory samples too) here")
    add(
        "--no-keep-alive",
        dest="keep_alive",
        action="store_false",
        help="a new connection per request (Connection: close)",
    )
    add(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the started gateway (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.sample_every <= 0 or args.timeout <= 0:
        parser.error("--concurrency, --duration, --sample-every and --timeout must be positive")
    if args.warmup < 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--warmup cannot be negative, --rate must be positive")
    if args.requests is not None and args.requests < 1:
        parser.error("--requests must be positive")
    if not all("=" in item for item in args.gateway_env):
        parser.error("--gateway-env takes NAME=VALUE")
    if not (args.form == "url" and args.image_url) and not args.image.is_file():
        parser.error(f"no image at {args.image}")
    return args


def config_from(args: argparse.Namespace) -> LoadConfig:
    names = {f.name for f in dataclasses.fields(LoadConfig)}
    return LoadConfig(**{name: value for name, value in vars(args).items() if name in names})


def load_own_gateway(config: LoadConfig, args: argparse.Namespace) -> LoadResult:
    """Start a gateway, load it, stop it."""
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        workdir = Path(tmp)
        log = workdir / "gateway.log"
        with started_gateway(workdir, log, args.start_timeout, args.gateway_env) as (base, process):
            return asyncio.run(run_load(config, base, process.pid))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    if args.url:
        result = asyncio.run(run_load(config, args.url.rstrip("/"), args.pid))
    else:
        try:
            result = load_own_gateway(config, args)
        except GatewayFailed as exc:
            print(f"loadgen: {exc}", file=sys.stderr)
            return 2
    print_report(result)
    if args.json:
        args.json.write_bytes(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2))
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
