"""The gateway against its in-process limit, in one table: one command, any machine.

    python benchmarks/report.py [--duration 10] [--concurrency 8] [--form base64]
                                [--model shapes-detect/1 ...] [--memory-requests 10000]
                                [--gateway-env GATEWAY_X=Y ...] [--json FILE]
    python benchmarks/report.py --url http://HOST:PORT [--pid PID] ...   a running gateway
    python benchmarks/report.py --quick                                  a few seconds (CI)

For each model (default: the bundled detection and instance segmentation models) on
models/examples/bench-640x480.jpg:
1. limit.py in this process: the request's work without a server, one at a time
   and --batch requests sharing one session run;
2. loadgen.py against the gateway (its own, started with the same GATEWAY_* settings
   unless --url): one client (closed loop), then --concurrency clients;
and then, with --memory-requests N, N more requests at --concurrency while the
gateway's resident memory is sampled.

Rows and ratios (the issue's targets in brackets, for a 2-core CPU machine):
    single p50        gateway p50 with 1 client / in-process single request  [<= 1.15]
    throughput        gateway req/s with N clients / in-process batched req/s [>= 0.85]
    polygons, 20      post-processing 20 instances, ms                        [< 2]
    memory growth     RSS, last vs first sample after the warm-up             [within 10 %]
The load generator runs on the same machine and its CPU share is shown: on a small
machine it competes with the gateway for the same cores. Exit status 1 if any
request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnxruntime as ort
import orjson

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/report.py`
    sys.path.insert(0, str(ROOT))

from benchmarks import limit  # noqa: E402
from benchmarks.harness import started_gateway  # noqa: E402
from benchmarks.loadgen import LoadConfig, LoadResult, run_load  # noqa: E402

QUICK_SECONDS = 1.0  # --quick: per load, and half that of warm-up
QUICK_RUNS = 5


def machine() -> str:
    """CPU model, cores and onnxruntime build, for the report's heading."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())})"
    )


@contextlib.contextmanager
def gateway(args: argparse.Namespace) -> Iterator[tuple[str, int | None]]:
    if args.url:
        yield args.url, args.pid
        return
    with tempfile.TemporaryDirectory(prefix="report-") as tmp:
        workdir = Path(tmp)
        with started_gateway(workdir, workdir / "gateway.log", 120.0, args.gateway_env) as (
            base,
            process,
        ):
            yield base, process.pid


def load(config: LoadConfig, base: str, pid: int | None) -> LoadResult:
    return asyncio.run(run_load(config, base, pid))


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def model_rows(lim: dict[str, Any], one: LoadResult, many: LoadResult) -> dict[str, Any]:
    return {
        "model": lim["model"],
        "limit_single_ms": lim["single_ms"],
        "gateway_p50_ms": one.p50_ms,
        "gateway_p99_ms_1_client": one.p99_ms,
        "single_ratio": ratio(one.p50_ms, lim["single_ms"]),
        "limit_batched_per_s": lim["batched_per_s"],
        "gateway_per_s": many.requests_per_s,
        "gateway_p50_ms_n_clients": many.p50_ms,
        "gateway_p99_ms_n_clients": many.p99_ms,
        "throughput_ratio": ratio(many.requests_per_s, lim["batched_per_s"]),
        "client_cores": many.client_cores,
        "polygons_20_ms": lim["polygons_20_ms"],
        "raw_session_ms": lim["raw_session_ms"],
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']}")
    print(
        f"image {report['image']}, form {report['form']}, {report['concurrency']} clients, "
        f"{report['duration']:g} s per load, batch {report['batch']}"
    )
    head = (
        f"{'model':<17}{'limit ms':>9}{'p50 ms':>8}{'ratio':>7}"
        f"{'limit/s':>9}{'req/s':>8}{'ratio':>7}{'p99 ms':>8}{'client':>8}{'poly20':>8}"
    )
    print(head)
    print("-" * len(head))
    for row in report["models"]:
        poly = "-" if row["polygons_20_ms"] is None else f"{row['polygons_20_ms']:.2f}"
        print(
            f"{row['model']:<17}{row['limit_single_ms']:>9.2f}{row['gateway_p50_ms']:>8.2f}"
            f"{row['single_ratio']:>7.2f}{row['limit_batched_per_s']:>9.1f}"
            f"{row['gateway_per_s']:>8.1f}{row['throughput_ratio']:>7.2f}"
            f"{row['gateway_p99_ms_n_clients']:>8.1f}{row['client_cores']:>8.2f}{poly:>8}"
        )
    memory = report.get("memory")
    if memory:
        print(
            f"memory over {memory['requests']} requests at {report['concurrency']} clients: "
            f"{memory['first_mib']} -> {memory['last_mib']} MiB "
            f"(max {memory['max_mib']}), growth {memory['growth_percent']:+.1f} %"
        )
    print(
        "limit ms: in-process single request; p50 ms: gateway, 1 client; limit/s: in-process, "
        "batched; req/s and p99 ms: gateway, N clients; client: load generator's cores"
    )


def memory_row(result: LoadResult) -> dict[str, Any] | None:
    memory = result.memory
    if not memory or "last_kb" not in memory:
        return None
    return {
        "requests": result.sent,
        "first_mib": round(memory["first_after_warmup_kb"] / 1024, 1),
        "last_mib": round(memory["last_kb"] / 1024, 1),
        "max_mib": round(memory["max_kb"] / 1024, 1),
        "growth_percent": round(100 * memory["growth"], 1),
        "samples": memory["samples"],
    }


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    runs = QUICK_RUNS if args.quick else args.runs
    duration = QUICK_SECONDS if args.quick else args.duration
    warmup = QUICK_SECONDS / 2 if args.quick else args.warmup
    models = limit.load_models(args.models or limit.MODELS, limit.ROOT / "configs/models.yaml",
                               args.gateway_env)  # fmt: skip
    parallel = limit.runs_per_model(args.gateway_env)
    seconds = QUICK_SECONDS if args.quick else 3.0
    limits = [limit.measure(m, args.image, runs, args.batch, parallel, seconds) for m in models]
    base_config = LoadConfig(image=args.image, form=args.form, duration=duration, warmup=warmup)
    rows, failed, memory = [], False, None
    with gateway(args) as (base, pid):
        for lim in limits:
            config = replace(base_config, model=lim["model"])
            one = load(replace(config, concurrency=1), base, None)
            many = load(replace(config, concurrency=args.concurrency), base, None)
            failed |= one.failed or many.failed
            rows.append(model_rows(lim, one, many))
        if args.memory_requests:
            config = replace(
                base_config, model=limits[0]["model"], concurrency=args.concurrency,
                requests=args.memory_requests, sample_every=args.sample_every,
            )  # fmt: skip
            result = load(config, base, pid)
            failed |= result.failed
            memory = memory_row(result)
    report = {
        "machine": machine(),
        "image": args.image.name,
        "form": args.form,
        "concurrency": args.concurrency,
        "duration": duration,
        "batch": args.batch,
        "gateway_env": args.gateway_env,
        "models": rows,
        "limits": limits,
        "memory": memory,
    }
    return report, failed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running gateway (default: start one)")
    parser.add_argument("--pid", type=int, help="its process id, for memory sampling")
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--image", type=Path, default=limit.BENCH_IMAGE)
    parser.add_argument("--form", default="base64", choices=["base64", "multipart", "raw", "url"])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=100, help="in-process repetitions")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--memory-requests", type=int, default=0)
    parser.add_argument("--sample-every", type=float, default=2.0)
    parser.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (CI smoke)")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report, failed = run(args)
    print_table(report)
    if args.json:
        args.json.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
