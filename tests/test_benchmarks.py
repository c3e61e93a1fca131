"""The benchmark suite's smoke run: benchmarks/report.py --quick, end to end, so that
it cannot rot. (It measures; the figures are reported, never asserted as targets.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def test_report_runs_the_limit_and_the_load_and_prints_one_table(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    command = [
        sys.executable, "benchmarks/report.py", "--quick", "--concurrency", "4",
        "--memory-requests", "200", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "shapes-detect/1" in done.stdout
    assert "shapes-seg/1" in done.stdout
    report = orjson.loads(out.read_bytes())
    assert report["image"] == "bench-640x480.jpg"
    limits = {lim["model"]: lim for lim in report["limits"]}
    # Both models find the seven shapes of the benchmark image, in-process ...
    assert limits["shapes-detect/1"]["predictions"] == 7
    assert limits["shapes-seg/1"]["predictions"] == 7
    assert limits["shapes-detect/1"]["polygons_20_ms"] is None
    assert limits["shapes-seg/1"]["polygons_20_ms"] > 0
    for lim in limits.values():
        stages = lim["stages_ms"]
        assert set(stages) == {"base64", "decode", "preprocess", "run", "postprocess", "render"}
        assert all(value > 0 for value in stages.values())
        assert lim["batch"] == 8
        assert lim["batch_run_ms"] > stages["run"]  # eight images take longer than one
    # ... and through the gateway, where the ratios come from real loads.
    for row in report["models"]:
        assert row["gateway_per_s"] > 0
        assert 0 < row["gateway_p50_ms"] <= row["gateway_p99_ms_1_client"]
        assert row["single_ratio"] == round(row["gateway_p50_ms"] / row["limit_single_ms"], 2)
        assert row["throughput_ratio"] == round(
            row["gateway_per_s"] / row["limit_batched_per_s"], 2
        )
    memory = report["memory"]
    assert memory["requests"] == 200
    assert memory["first_mib"] > 50
    assert memory["samples"]


def test_gpu_check_reports_placement_and_batched_throughput(tmp_path: Path) -> None:
    """On this CPU machine every node, NMS included, is on the CPU provider; on a GPU
    the same report shows CUDA (see the README)."""
    from benchmarks import gpu_check

    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--batches", "1,2", "--runs", "2", "--json", str(out)]) == 0
    report = {entry["model"]: entry for entry in orjson.loads(out.read_bytes())}
    assert set(report) == {"shapes-detect/1", "shapes-seg/1"}
    for entry in report.values():
        placement = entry["placement"]
        assert placement["nms_provider"] == ["CPUExecutionProvider"]
        assert placement["nodes_per_provider"]["CPUExecutionProvider"] > 50
        assert set(entry["batches"]) == {"1", "2"}
        assert entry["batches"]["2"]["run_ms"] > 0
        assert entry["io_binding"] is False


def test_replicas_compares_nginx_in_front_of_two_with_one_alone() -> None:
    command = [
        sys.executable, "benchmarks/replicas.py", "--duration", "1", "--warmup", "0.5",
        "--concurrency", "4", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    table, _, raw = done.stdout.partition("{")
    rows = orjson.loads("{" + raw)
    assert list(rows) == ["1 replica, direct", "1 replica, nginx", "2 replicas, nginx"]
    for name, result in rows.items():
        assert result["requests_ok"] == result["sent"] > 0, name
        assert result["predictions"] == 7  # the seven shapes, whichever replica answered
        assert name in table
