"""The in-process limit: what one request costs without a server, stage by stage.

    python benchmarks/limit.py [--model shapes-detect/1 ...] [--image PATH] [--runs 50]
                               [--batch 8] [--json FILE]

For each model and the same image the load generator sends (default
models/examples/bench-640x480.jpg as base64, as the Roboflow SDK sends it), with
the gateway's own code and no HTTP, medians in milliseconds of:
    base64, decode, preprocess, run, postprocess, render   one request's stages
    single_ms            the whole chain for one request, timed end to end
    raw_session_ms       the exported ONNX as shipped (no appended head) on the
                         prepared tensor: the floor any server pays
    batch_run_ms         one session run over --batch prepared images
    batched_ms_per_image the whole chain for --batch requests with one shared run,
                         per request, one chain at a time
    batched_per_s        requests per second with --parallel such chains at once
                         (the gateway's runs per model on a CPU), each
                         on its own thread: the in-process equivalent of the
                         gateway's runners, for the same settings
    polygons_20_ms       instance models: post-processing 20 detections into polygons
The chain runs on one Python thread; onnxruntime uses its own threads (one per core).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import onnxruntime as ort
import orjson

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as `python benchmarks/limit.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import print_json  # noqa: E402
from gateway.dialects.roboflow.render import render_json  # noqa: E402
from gateway.images import decode, decode_base64  # noqa: E402
from gateway.model import Model, stack  # noqa: E402
from gateway.modelconfig import load_model_configs  # noqa: E402
from gateway.params import InferenceParams  # noqa: E402
from gateway.results import Task, Timings  # noqa: E402
from gateway.settings import Settings  # noqa: E402

BENCH_IMAGE = ROOT / "models" / "examples" / "bench-640x480.jpg"
MODELS = ("shapes-detect/1", "shapes-seg/1")
STAGES = ("base64", "decode", "preprocess", "run", "postprocess", "render")
PARAMS = InferenceParams(confidence=0.4, iou=0.3)  # what loadgen's defaults ask for


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


class Chain:
    """One Roboflow request's work, base64 text in, JSON bytes out."""

    def __init__(self, model: Model, body: bytes) -> None:
        self.model = model
        self.body = body
        self.feeds = model.feeds(PARAMS)
        self.stages: dict[str, list[float]] = {stage: [] for stage in STAGES}

    def requests(self, count: int) -> list[bytes]:
        """`count` requests, their images sharing one session run."""
        clock = time.perf_counter
        model, seconds = self.model, self.stages
        staged = []
        for _ in range(count):
            t0 = clock()
            data = decode_base64(self.body)
            t1 = clock()
            image = decode(data)
            t2 = clock()
            prepared = model.prepare(image)
            seconds["base64"].append(t1 - t0)
            seconds["decode"].append(t2 - t1)
            seconds["preprocess"].append(clock() - t2)
            staged.append(prepared)
        t0 = clock()
        outputs = model.run(stack([p.tensor for p in staged]), self.feeds)
        seconds["run"].append(clock() - t0)
        answers = []
        for index, prepared in enumerate(staged):
            t0 = clock()
            result = model.finish(outputs, index, prepared, PARAMS)
            t1 = clock()
            prediction = model.prediction(prepared, result, Timings())
            answers.append(orjson.dumps(render_json(prediction)))
            seconds["postprocess"].append(t1 - t0)
            seconds["render"].append(clock() - t1)
        return answers

    def stage_ms(self) -> dict[str, float]:
        return {k: round(1000 * statistics.median(v), 3) for k, v in self.stages.items()}


def polygons_ms(model: Model, body: bytes, runs: int, count: int = 20) -> float | None:
    """Post-processing of `count` kept instances (a low threshold keeps that many)."""
    if model.task is not Task.INSTANCE:
        return None
    params = InferenceParams(confidence=0.001, max_detections=count)
    prepared = model.prepare(decode(decode_base64(body)))
    outputs = model.run(prepared.tensor, model.feeds(params))
    if len(outputs["gw_scores"]) < count:
        return None
    return median_ms(lambda: model.finish(outputs, 0, prepared, params), runs)


def parallel_per_s(model: Model, body: bytes, batch: int, chains: int, seconds: float) -> float:
    """Requests per second with `chains` threads each repeating a batched chain."""
    each = [Chain(model, body) for _ in range(chains)]
    for chain in each:
        chain.requests(batch)  # warm
    stop = time.perf_counter() + seconds
    done = [0] * chains

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            each[i].requests(batch)
            done[i] += batch

    started = time.perf_counter()
    with ThreadPoolExecutor(chains) as pool:
        list(pool.map(work, range(chains)))
    return sum(done) / (time.perf_counter() - started)


def measure(
    model: Model, image: Path, runs: int, batch: int, parallel: int = 1, seconds: float = 3.0
) -> dict[str, Any]:
    """The limit figures of one model on one image (see the module's docstring)."""
    body = base64.b64encode(image.read_bytes())
    single = Chain(model, body)
    single_ms = median_ms(lambda: single.requests(1), runs)
    prepared = model.prepare(decode(image.read_bytes()))
    pre = model.spec.preprocessing
    raw = ort.InferenceSession(str(model.path), providers=model.session.providers)
    raw_ms = median_ms(lambda: raw.run(None, {pre.input_name: prepared.tensor}), runs)
    batch = min(batch, model.max_batch)
    tensor = stack([prepared.tensor] * batch)
    batch_run_ms = median_ms(lambda: model.run(tensor, single.feeds), max(5, runs // batch))
    batched = Chain(model, body)
    per_image = median_ms(lambda: batched.requests(batch), max(5, runs // batch)) / batch
    predictions = orjson.loads(single.requests(1)[0])["predictions"]
    return {
        "model": model.id,
        "image": image.name,
        "providers": model.session.providers,
        "predictions": len(predictions),
        "stages_ms": single.stage_ms(),
        "single_ms": round(single_ms, 3),
        "raw_session_ms": round(raw_ms, 3),
        "batch": batch,
        "batch_run_ms": round(batch_run_ms, 3),
        "batched_ms_per_image": round(per_image, 3),
        "parallel": parallel,
        "batched_per_s": round(parallel_per_s(model, body, batch, parallel, seconds), 1),
        "polygons_20_ms": _rounded(polygons_ms(model, body, runs)),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def settings_from(env: Sequence[str]) -> Settings:
    return Settings.from_env(dict(item.partition("=")[::2] for item in env))


def runs_per_model(env: Sequence[str]) -> int:
    """The session runs at once per model a gateway with these settings has (on a CPU)."""
    return settings_from(env).runs_per_model or 1


def load_models(ids: Sequence[str], config: Path, env: Sequence[str] = ()) -> list[Model]:
    """The models as a gateway started with these GATEWAY_* settings (NAME=VALUE) runs
    them: same provider, threads, precision and batch size."""
    settings = settings_from(env)
    configs = {c.id: c for c in load_model_configs(config)}
    return [Model.load(configs[model_id], settings.runtime()) for model_id in ids]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--image", type=Path, default=BENCH_IMAGE)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "models.yaml")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--gateway-env", action="append", default=[], metavar="NAME=VALUE",
        help="a GATEWAY_* setting to load the models with, as a gateway would",
    )  # fmt: skip
    args = parser.parse_args(argv)
    models = load_models(args.models or MODELS, args.config, args.gateway_env)
    parallel = runs_per_model(args.gateway_env)
    results = [measure(model, args.image, args.runs, args.batch, parallel) for model in models]
    print_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
