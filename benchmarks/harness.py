"""Helpers shared by the benchmarks: a gateway of their own, the server's memory, percentiles.

    from benchmarks.harness import started_gateway, sample_memory, memory_report, percentile

started_gateway() runs `gateway serve` on a free port of 127.0.0.1 with the bundled
configs, a temporary task database and GATEWAY_FETCH_ALLOW=127.0.0.1, waits for
/readyz and stops it (SIGTERM) at the end. sample_memory() records a process's
resident memory (VmRSS of /proc/PID/status) every few seconds, and memory_report()
sums the samples up: the first after the warm-up, the last, the max and the growth.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "models" / "examples"
DEMO_KEY = "local-demo-key"  # configs/keys.yaml's public local demo key


# --------------------------------------------------------------------------- gateway


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_command() -> list[str]:
    script = Path(sys.executable).parent / "gateway"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gateway"]


class GatewayFailed(Exception):
    """The gateway exited or did not become ready."""


@contextlib.contextmanager
def started_gateway(
    workdir: Path, log: Path, start_timeout: float, extra_env: Sequence[str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`gateway serve` with the bundled configs on a free port; stopped (SIGTERM) at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_CONFIG=str(ROOT / "configs" / "models.yaml"),
        GATEWAY_KEYS_FILE=str(ROOT / "configs" / "keys.yaml"),
        GATEWAY_TASK_DB=str(workdir / "tasks.sqlite3"),
        GATEWAY_FETCH_ALLOW="127.0.0.1",
    )
    for item in extra_env:
        name, _, value = item.partition("=")
        env[name] = value
    command = [*gateway_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, start_timeout, log)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise GatewayFailed(f"the gateway exited ({process.returncode}):\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise GatewayFailed(f"the gateway was not ready in {timeout:.0f}s:\n{tail(log)}")
        time.sleep(0.25)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


# ---------------------------------------------------------------------------- memory


def read_memory_kb(pid: int) -> dict[str, int] | None:
    """VmRSS and VmHWM of a process in kB, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values if "VmRSS" in values else None


async def sample_memory(
    pid: int, every: float, started: float, samples: list[dict[str, float]], stop: asyncio.Event
) -> None:
    """Append {"t": seconds since `started` (monotonic), "rss_kb"} every `every` s until
    `stop` is set or the process is gone."""
    while True:
        memory = read_memory_kb(pid)
        if memory is None:
            return
        samples.append({"t": round(time.monotonic() - started, 2), "rss_kb": memory["VmRSS"]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
            return


def memory_report(pid: int, samples: list[dict[str, float]], warmup: float) -> dict[str, Any]:
    """The samples, and the first one at or after `warmup` seconds, the last, the max and
    the growth from the first to the last (a fraction); the peak (VmHWM) if still there."""
    report: dict[str, Any] = {"pid": pid, "samples": samples}
    if not samples:
        return report
    after = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    first, last = after[0], samples[-1]
    report.update(
        warmup_s=round(warmup, 2),
        first_after_warmup_kb=first["rss_kb"],
        first_after_warmup_t=first["t"],
        last_kb=last["rss_kb"],
        max_kb=max(s["rss_kb"] for s in samples),
        growth=round((last["rss_kb"] - first["rss_kb"]) / first["rss_kb"], 4),
    )
    memory = read_memory_kb(pid)
    if memory is not None and "VmHWM" in memory:
        report["peak_hwm_kb"] = memory["VmHWM"]
    return report


def print_json(data: Any, path: Path | None = None) -> None:
    """Print indented JSON, and write it to `path` too when given."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if path is not None:
        path.write_text(text + "\n")
    print(text)


def mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


# ------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of unsorted `values` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
