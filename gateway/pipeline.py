"""One request's images through a model: decode and prepare, batched run, finish.

CPU work (decoding, fitting to the network input, post-processing, rendering) runs
in worker threads bounded to the machine's CPUs, so that a burst of requests never
runs more image work at once than there are cores to do it; the thread pool anyio
uses by default (40 threads) is left to blocking I/O. Session runs go through the
model's Batcher, which gathers the images of concurrent requests into one run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio

from gateway import context
from gateway.batching import Batcher
from gateway.engine.runtime import machine_cpus
from gateway.images import Image
from gateway.metrics import Metrics, ModelMetrics
from gateway.model import Model, Prepared
from gateway.params import InferenceParams
from gateway.registry import ModelRegistry
from gateway.results import Prediction, Timings

T = TypeVar("T")
Loader = Callable[[], Image]  # decodes (or crops) the image to predict, in a worker thread


class Pipeline:
    """The batchers of every model and the worker threads for image work."""

    def __init__(
        self,
        registry: ModelRegistry,
        runs_per_model: int,
        worker_threads: int,
        metrics: Metrics | None = None,
    ) -> None:
        def runs(model: Model) -> int:
            # On a CPU one run with every core gave the lowest latency at about the same
            # throughput as two runs of half the cores each (benchmarks/README.md); on a
            # GPU a second run overlaps its input copy with the first one's compute.
            return runs_per_model or (2 if model.session.on_device else 1)

        # What each model's batcher and predictions report to (nothing without metrics).
        self.observers: dict[str, ModelMetrics | None] = {
            model.id: metrics.model(model.id) if metrics is not None else None for model in registry
        }
        self.batchers = {
            model.id: Batcher(model, runs(model), self.observers[model.id]) for model in registry
        }
        self.threads = anyio.CapacityLimiter(worker_threads or machine_cpus())

    async def cpu(self, function: Callable[..., T], *args: object) -> T:
        """Run CPU-bound image work in a worker thread."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.threads)

    async def predict(
        self, model: Model, load: Loader, params: InferenceParams
    ) -> tuple[Image, Prediction]:
        """The loaded image and its prediction."""
        (pair,) = await self.predict_many(model, [load], params)
        return pair

    async def predict_many(
        self, model: Model, loads: Sequence[Loader], params: InferenceParams
    ) -> list[tuple[Image, Prediction]]:
        """Several images of one request: loaded in turn (a bad one fails the request
        before any runs), then batched together."""
        context.note_model(model.id)
        feeds = model.feeds(params)
        staged = [await self.cpu(_stage, model, load) for load in loads]
        batcher = self.batchers[model.id]
        runs = await asyncio.gather(*(batcher.submit(p.tensor, feeds) for _, p, _ in staged))
        pairs = []
        for (image, prepared, decoded), ran in zip(staged, runs, strict=True):
            started = time.perf_counter()
            result = await self.cpu(model.finish, ran.outputs, ran.index, prepared, params)
            timings = Timings(
                decode=decoded,
                preprocess=prepared.seconds,
                queue=ran.queued,
                inference=ran.seconds,
                postprocess=time.perf_counter() - started,
            )
            observer = self.observers.get(model.id)
            if observer is not None:
                observer.prediction(timings)
            pairs.append((image, model.prediction(prepared, result, timings)))
        return pairs

    async def aclose(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()


def _stage(model: Model, load: Loader) -> tuple[Image, Prepared, float]:
    started = time.perf_counter()
    image = load()
    decoded = time.perf_counter() - started
    return image, model.prepare(image), decoded
