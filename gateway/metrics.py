"""Prometheus metrics of one gateway app, served as text on `GET /metrics`.

    gateway_requests_total{route,method,status,model}     HTTP requests answered
    gateway_request_duration_seconds{route,model}         histogram, whole request
    gateway_stage_seconds{stage,model}                    histogram per prediction: fetch,
                                                          decode, preprocess, queue,
                                                          inference, postprocess
    gateway_batch_size{model}                             histogram, images per session run
    gateway_queue_depth{model}                            images waiting for a run
    gateway_model_loaded{model,task,provider}             1 per loaded model
    gateway_inflight_requests                             HTTP requests being handled
    gateway_rejections_total{reason}                      work refused for load (503/429)

`route` is the matched route's path template (`/{project}/{version}`), or "unmatched":
never the raw path, so the label stays bounded; `model` is a configured model's id or "".

Each app has its own registry (tests build many apps in one process). With several
server processes (GATEWAY_WORKERS > 1) the parent points PROMETHEUS_MULTIPROC_DIR at a
fresh directory before it starts them (gateway/server.py): prometheus_client then keeps
each process's values in files there, and /metrics, whichever worker answers it, adds up
the files of all of them (MultiProcessCollector). The variable is read when
prometheus_client is imported, so it must be set before the process starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import context
from gateway.results import Timings

if TYPE_CHECKING:
    from gateway.model import Model

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Milliseconds-scale stages up to a slow request.
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUEST_BUCKETS = (*SECONDS_BUCKETS, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
STAGES = ("fetch", "decode", "preprocess", "queue", "inference", "postprocess")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_dir() -> str | None:
    """The directory of multi-process mode, when it is on."""
    return os.environ.get(MULTIPROC_ENV) or None


def provider_name(providers: Iterable[str]) -> str:
    """`CUDAExecutionProvider` -> `cuda`: the first (preferred) provider of a session."""
    first = next(iter(providers), "")
    return first.removesuffix("ExecutionProvider").lower() or "unknown"


class ModelMetrics:
    """The series of one model, bound once: what the model's batcher and the pipeline
    report as they run (gateway.batching.BatchObserver)."""

    def __init__(self, metrics: Metrics, model_id: str) -> None:
        self._batch = metrics.batch_size.labels(model=model_id)
        self._depth = metrics.queue_depth.labels(model=model_id)
        self._stages = {
            stage: metrics.stage_seconds.labels(stage=stage, model=model_id) for stage in STAGES
        }
        self._depth.set(0)

    def batch_ran(self, size: int) -> None:
        self._batch.observe(size)

    def queue_depth(self, depth: int) -> None:
        self._depth.set(depth)

    def prediction(self, timings: Timings) -> None:
        """One prediction finished: its stages but fetch (timed where URLs are fetched)."""
        self._stages["decode"].observe(timings.decode)
        self._stages["preprocess"].observe(timings.preprocess)
        self._stages["queue"].observe(timings.queue)
        self._stages["inference"].observe(timings.inference)
        self._stages["postprocess"].observe(timings.postprocess)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "gateway_requests",
            "HTTP requests answered, by route template, method, status and model",
            ("route", "method", "status", "model"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            "gateway_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            ("route", "model"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "gateway_stage_seconds",
            "Time of each stage of one prediction (inference: its whole batch's run)",
            ("stage", "model"),
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "gateway_batch_size",
            "Images per session run",
            ("model",),
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "gateway_queue_depth",
            "Images waiting for a session run",
            ("model",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.model_loaded = Gauge(
            "gateway_model_loaded",
            "1 for each loaded model",
            ("model", "task", "provider"),
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.inflight = Gauge(
            "gateway_inflight_requests",
            "HTTP requests being handled",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rejections = Counter(
            "gateway_rejections",
            "Requests refused for load (503) or by a per-key limit (429), by reason",
            ("reason",),
            registry=registry,
        )
        self._models: dict[str, ModelMetrics] = {}

    def model(self, model_id: str) -> ModelMetrics:
        found = self._models.get(model_id)
        if found is None:
            found = self._models[model_id] = ModelMetrics(self, model_id)
        return found

    def models_loaded(self, models: Iterable[Model]) -> None:
        for model in models:
            provider = provider_name(model.session.providers)
            self.model_loaded.labels(model.id, model.task.value, provider).set(1)
            self.model(model.id)

    def request(self, route: str, method: str, status: int, model: str, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status), model).inc()
        self.request_seconds.labels(route, model).observe(seconds)

    def fetched(self, seconds: float) -> None:
        """An image URL was fetched, for the request's model (if it has one yet)."""
        request = context.current()
        model = request.model if request is not None else ""
        self.stage_seconds.labels("fetch", model).observe(seconds)

    def rejected(self, reason: str) -> None:
        """Count a request refused for load or by a limit (reason: "rate", "inflight", ...)."""
        self.rejections.labels(reason).inc()
        context.note_rejected()

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type; every worker's values in multi-process mode."""
        registry = self.registry
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
