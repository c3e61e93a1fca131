"""Replicas behind nginx against one replica alone, on this machine.

    python benchmarks/replicas.py [--replicas 2] [--duration 10] [--concurrency 16]
                                  [--model shapes-detect/1] [--gateway-env GATEWAY_X=Y ...]

Starts one gateway and loads it directly, then through a real nginx with
configs/nginx/proxy.conf (the compose stack's proxy settings); then starts --replicas
gateways behind nginx and loads that. Each replica gets an equal share of the CPUs
(GATEWAY_THREADS) unless --gateway-env sets it. On one machine the replicas share its
cores, so this measures what the load balancer and the extra processes cost or gain,
not scaling across machines. Needs nginx (apt-get install nginx). Prints one table;
exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/replicas.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, print_json, started_gateway, wait_ready  # noqa: E402
from benchmarks.loadgen import LoadConfig, LoadResult, run_load  # noqa: E402
from benchmarks.nginx import find_nginx, minimal_config, nginx_command  # noqa: E402


@contextlib.contextmanager
def replicas(workdir: Path, count: int, extra_env: Sequence[str]) -> Iterator[list[int]]:
    """`count` gateways on free ports; their ports."""
    threads = max(1, (os.cpu_count() or 1) // count)
    env = [f"GATEWAY_THREADS={threads}", *extra_env]
    with contextlib.ExitStack() as stack:
        ports = []
        for index in range(count):
            log = workdir / f"replica-{count}-{index}.log"
            base, _ = stack.enter_context(started_gateway(workdir, log, 120.0, env))
            ports.append(int(base.rsplit(":", 1)[1]))
        yield ports


@contextlib.contextmanager
def balancer(workdir: Path, ports: list[int]) -> Iterator[str]:
    """nginx in front of the ports; its URL."""
    nginx = find_nginx()
    if nginx is None:
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    directory = workdir
    directory.mkdir(parents=True)
    port = free_port()
    (directory / "nginx.conf").write_text(minimal_config(directory, ports, port, False))
    process = subprocess.Popen(nginx_command(nginx, directory), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, 30.0, directory / "error.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def measure(args: argparse.Namespace) -> list[tuple[str, LoadResult]]:
    config = LoadConfig(
        model=args.model, concurrency=args.concurrency, duration=args.duration, warmup=args.warmup
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="replicas-") as tmp:
        workdir = Path(tmp)
        with replicas(workdir, 1, args.gateway_env) as ports:
            alone = asyncio.run(run_load(config, f"http://127.0.0.1:{ports[0]}"))
            rows.append(("1 replica, direct", alone))
            with balancer(workdir / "one", ports) as url:
                rows.append(("1 replica, nginx", asyncio.run(run_load(config, url))))
        with (
            replicas(workdir, args.replicas, args.gateway_env) as ports,
            balancer(workdir / "many", ports) as url,
        ):
            behind = asyncio.run(run_load(config, url))
            rows.append((f"{args.replicas} replicas, nginx", behind))
    return rows


def print_table(rows: list[tuple[str, LoadResult]]) -> None:
    base = rows[0][1].requests_per_s
    print(f"{'setup':<22}{'req/s':>8}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}")
    for name, result in rows:
        ratio = result.requests_per_s / base if base else float("nan")
        print(
            f"{name:<22}{result.requests_per_s:>8.1f}{ratio:>7.2f}{result.p50_ms:>8.1f}"
            f"{result.p99_ms:>8.1f}{result.sent - result.requests_ok:>8}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted, first")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", default="shapes-detect/1")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--gateway-env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for every replica (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    rows = measure(args)
    print_table(rows)
    if args.json:
        print_json({name: vars(result) for name, result in rows})
    return 1 if any(result.sent != result.requests_ok for _, result in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
