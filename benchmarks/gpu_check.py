"""Where a model's nodes run, and the raw session throughput per batch size.

    python benchmarks/gpu_check.py [--model shapes-detect/1 ...] [--config configs/models.yaml]
                                   [--batches 1,8,32] [--runs 50] [--fp16] [--json FILE]

For each model, loaded as the gateway loads it (task head appended, GATEWAY_* settings
from the environment: GATEWAY_PROVIDER, GATEWAY_FP16, ...), prints:
    providers     the session's execution providers, best first
    placement     nodes per execution provider, from one profiled run, and the
                  provider of the appended NMS node (CUDA on a GPU: NMS on the device)
    io_binding    whether runs go through an IOBinding (always on a GPU)
    batch N       median session run in ms over --runs, and images per second
Use it on a GPU machine after `./scripts/install-gpu`, with a 640 export
(e.g. a YOLOv8n detect and seg model in a models.yaml of your own) for the figures
the README quotes; on a CPU it runs too (every node on CPUExecutionProvider).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/gpu_check.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import print_json  # noqa: E402
from gateway.engine.session import Session  # noqa: E402
from gateway.model import Model  # noqa: E402
from gateway.modelconfig import load_model_configs  # noqa: E402
from gateway.params import InferenceParams  # noqa: E402
from gateway.settings import Settings  # noqa: E402


def placement(model: Model) -> dict[str, Any]:
    """Nodes per provider in one profiled run of the model's graph (head included)."""
    graph = model.handler.attach(_proto(model)).SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(graph, options, providers=model.session.providers)
        feeds = dict(model.feeds(InferenceParams()))
        feeds[model.spec.preprocessing.input_name] = _batch(model, 1)
        session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes: dict[str, str] = {}
    ops: dict[str, str] = {}
    for event in events:
        args = event.get("args", {})
        if event.get("cat") == "Node" and "provider" in args:
            name = event["name"].removesuffix("_kernel_time")
            nodes[name] = args["provider"]
            ops[name] = args.get("op_name", "")
    nms = sorted({nodes[n] for n, op in ops.items() if op == "NonMaxSuppression"})
    return {"nodes_per_provider": dict(Counter(nodes.values())), "nms_provider": nms}


def _proto(model: Model) -> Any:
    import onnx

    from gateway.engine.precision import to_fp16

    proto = onnx.load(str(model.path))
    return to_fp16(proto, model.id) if model.session.fp16 else proto


def _batch(model: Model, size: int) -> np.ndarray:
    pre = model.spec.preprocessing
    blank = np.full((pre.height, pre.width, 3), 114, np.uint8)
    return np.concatenate([model.prepare(blank).tensor] * size)


def throughput(model: Model, batches: Sequence[int], runs: int) -> dict[str, Any]:
    feeds = model.feeds(InferenceParams())
    figures: dict[str, Any] = {}
    for size in batches:
        if size > 1 and not model.spec.dynamic_batch:
            continue
        batch = _batch(model, size)
        for _ in range(3):
            model.run(batch, feeds)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            model.run(batch, feeds)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        figures[str(size)] = {
            "run_ms": round(1000 * median, 3),
            "images_per_s": round(size / median, 1),
        }
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "models.yaml")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--fp16", action="store_true", help="convert the models to float16")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    runtime = replace(settings.runtime(), fp16=settings.fp16 or args.fp16)
    batches = [int(b) for b in args.batches.split(",")]
    configs = load_model_configs(args.config)
    wanted = args.models or ["shapes-detect/1", "shapes-seg/1"]
    report = []
    for config in (c for c in configs if c.id in wanted):
        model = Model.load(replace(config, max_batch=max(batches)), runtime)
        session: Session = model.session
        report.append(
            {
                "model": model.id,
                "input": [model.spec.preprocessing.height, model.spec.preprocessing.width],
                "providers": session.providers,
                "fp16": session.fp16,
                "io_binding": session.io_binding,
                "placement": placement(model),
                "batches": throughput(model, batches, args.runs),
            }
        )
    print_json(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
