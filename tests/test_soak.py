"""benchmarks/soak.py end to end: a short soak against a gateway it starts itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from benchmarks.soak import meets

ROOT = Path(__file__).resolve().parents[1]


def test_short_soak_is_clean(tmp_path: Path) -> None:
    """8 s of mixed traffic, 4 workers: no 5xx, no transport error, every kind as expected."""
    report_path = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "soak.py"),
        "--duration",
        "8",
        "--concurrency",
        "4",
        "--sample-every",
        "1",
        "--start-timeout",
        "60",
        "--json",
        str(report_path),
        "--gateway-log",
        str(tmp_path / "gateway.log"),
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = f"stdout:\n{run.stdout[-6000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert report_path.exists(), output
    report = orjson.loads(report_path.read_bytes())

    kinds = report["kinds"]
    assert all(kind["count"] >= 1 for kind in kinds.values()), output
    wrong = {
        name: kind["statuses"]
        for name, kind in kinds.items()
        if not all(meets(label, kind["expect"]) for label in kind["statuses"])
    }
    assert not wrong, f"kinds with statuses they should not get: {wrong}\n{output}"
    assert report["five_xx"] == 0, output
    assert report["transport_errors"] == 0, output
    assert report["server"]["exit_code"] is None, output
    assert report["memory"]["samples"], output
    assert run.returncode == 0, output
