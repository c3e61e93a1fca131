"""Latency of one request, next to the raw onnxruntime session run on the same image.

    python benchmarks/latency.py [--model shapes-detect/1] [--image models/examples/scene-1.jpg]
                                 [--runs 50] [--url http://127.0.0.1:9001]

Prints one JSON line of medians in milliseconds:
    raw_session_ms   the exported ONNX file as shipped (no appended head), fed the
                     already pre-processed tensor: the floor any server pays
    engine_ms        the gateway's Model.predict (preprocess, run with head, postprocess)
                     plus decode, split by stage
    http_ms          one sequential request to a running gateway's Roboflow route
                     (base64 body, JSON back), measured by the client, if --url is given
and the ratios of engine and HTTP to the raw run.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.images import decode  # noqa: E402
from gateway.model import Model  # noqa: E402
from gateway.modelconfig import load_model_configs  # noqa: E402
from gateway.params import InferenceParams  # noqa: E402
from gateway.preprocess import fit, to_tensor  # noqa: E402

FAMILY = {"detect": "detect", "instance": "outline", "semantic": "segment", "classify": "classify"}


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes-detect/1")
    parser.add_argument("--image", type=Path, default=ROOT / "models/examples/scene-1.jpg")
    parser.add_argument("--config", type=Path, default=ROOT / "configs/models.yaml")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--url")
    parser.add_argument("--api-key", default="local-demo-key")
    args = parser.parse_args()

    config = {c.id: c for c in load_model_configs(args.config)}[args.model]
    model = Model.load(config)
    data = args.image.read_bytes()
    image = decode(data)
    pre = model.spec.preprocessing
    tensor = to_tensor([fit(image, pre)[0]], pre)

    raw = ort.InferenceSession(str(config.path), providers=model.session.providers)
    feed = {pre.input_name: tensor}
    raw_ms = median_ms(lambda: raw.run(None, feed), args.runs)

    params = InferenceParams(confidence=0.4, iou=0.3)
    stages: dict[str, list[float]] = {}

    def engine() -> None:
        started = time.perf_counter()
        decoded = decode(data)
        (prediction,) = model.predict([decoded], params, [time.perf_counter() - started])
        for stage in ("decode", "preprocess", "inference", "postprocess"):
            stages.setdefault(stage, []).append(getattr(prediction.timings, stage))

    engine_ms = median_ms(engine, args.runs)
    report: dict[str, object] = {
        "model": args.model,
        "image": args.image.name,
        "image_size": [int(image.shape[1]), int(image.shape[0])],
        "runs": args.runs,
        "providers": model.session.providers,
        "raw_session_ms": round(raw_ms, 3),
        "engine_ms": round(engine_ms, 3),
        "engine_stages_ms": {k: round(1000 * float(np.median(v)), 3) for k, v in stages.items()},
        "engine_over_raw": round(engine_ms / raw_ms, 2),
    }
    if args.url:
        family = FAMILY[model.task.value]
        body = base64.b64encode(data)
        with httpx.Client(base_url=args.url, timeout=30) as client:
            url = f"/{family}/{args.model}"
            query = {"api_key": args.api_key}

            def request() -> None:
                client.post(url, params=query, content=body).raise_for_status()

            http_ms = median_ms(request, args.runs)
        report["http_ms"] = round(http_ms, 3)
        report["http_over_raw"] = round(http_ms / raw_ms, 2)
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    main()
