"""A loaded model: spec + session + task handler, turning images into Predictions.

The work for one image is split in three so that a server can batch the middle step
across requests: `prepare` (fit to the network input, one image), `run` (one session
run over a batch of prepared images, with the task's head), `finish` (post-process
one image of a run). `predict` chains them for callers that hold all the images.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from gateway.engine.precision import to_fp16
from gateway.engine.runtime import Runtime
from gateway.engine.session import Session
from gateway.errors import ModelError
from gateway.images import Image
from gateway.modelconfig import ModelConfig
from gateway.params import InferenceParams
from gateway.preprocess import Transform, fit, to_tensor
from gateway.results import Prediction, Result, Task, Timings
from gateway.spec import ModelSpec, resolve_spec
from gateway.tasks import TaskHandler, handler_for

Feeds = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]


def read_onnx(path: Path, model_id: str) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf and onnx raise several unrelated types
        raise ModelError(f"model '{model_id}': {path} is not a readable ONNX file: {exc}") from exc


@dataclass(frozen=True)
class Prepared:
    """One image fitted to the network input, as a batch of one."""

    tensor: np.ndarray
    transform: Transform
    seconds: float


def stack(tensors: Sequence[np.ndarray]) -> np.ndarray:
    """Batches of one -> one batch (no copy for a single image)."""
    return tensors[0] if len(tensors) == 1 else np.concatenate(tensors)


class Model:
    """prepare -> run (batched, with the task's head) -> finish, for one model."""

    def __init__(
        self,
        spec: ModelSpec,
        session: Session,
        handler: TaskHandler,
        path: Path | None = None,
        max_batch: int = 8,
        batch_wait_ms: float = 0.0,
    ) -> None:
        self.spec = spec
        self.session = session
        self.handler = handler
        self.path = path
        # A fixed batch axis (of 1) takes one image per session run.
        self.max_batch = max_batch if spec.dynamic_batch else 1
        self.batch_wait = batch_wait_ms / 1000.0

    @classmethod
    def load(cls, config: ModelConfig, runtime: Runtime | None = None) -> Model:
        """Read the file, resolve its spec, append the task head and open a session."""
        runtime = runtime or Runtime()
        proto = read_onnx(config.path, config.id)
        spec = resolve_spec(config, proto)
        handler = handler_for(spec)
        fp16 = runtime.fp16 if config.fp16 is None else config.fp16
        if fp16:
            proto = to_fp16(proto, config.id)
        session = Session(
            handler.attach(proto).SerializeToString(),
            config.id,
            runtime.provider,
            runtime.threads,
            fp16=fp16,
            cache_dir=runtime.trt_cache,
            io_binding=runtime.io_binding,
        )
        return cls(
            spec,
            session,
            handler,
            config.path,
            runtime.max_batch if config.max_batch is None else config.max_batch,
            runtime.batch_wait_ms if config.batch_wait_ms is None else config.batch_wait_ms,
        )

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def task(self) -> Task:
        return self.spec.task

    def warmup(self) -> None:
        """One run on a blank image, so the first request does not pay for lazy set-up.

        Not a full batch: onnxruntime's memory arena keeps its peak, and a model that
        never sees concurrent requests should not hold memory sized for eight images.
        """
        pre = self.spec.preprocessing
        self.predict([np.full((pre.height, pre.width, 3), 114, np.uint8)], InferenceParams())

    def feeds(self, params: InferenceParams) -> Feeds:
        """The head's graph inputs for these params; raises InvalidParameter if they do
        not fit the model, so call it before any image work."""
        return self.handler.feeds(params)

    def validate(self, params: InferenceParams) -> None:
        self.feeds(params)

    def prepare(self, image: Image) -> Prepared:
        started = time.perf_counter()
        canvas, transform = fit(image, self.spec.preprocessing)
        tensor = to_tensor([canvas], self.spec.preprocessing)
        return Prepared(tensor, transform, time.perf_counter() - started)

    def run(self, batch: np.ndarray, feeds: Mapping[str, np.ndarray]) -> Outputs:
        """One session run over a batch of at most `max_batch` prepared images."""
        inputs = dict(feeds)
        inputs[self.spec.preprocessing.input_name] = batch
        return self.session.run(self.handler.outputs, inputs)

    def finish(
        self, outputs: Outputs, index: int, prepared: Prepared, params: InferenceParams
    ) -> Result:
        """The result for image `index` of a run's outputs, in original-image pixels."""
        return self.handler.postprocess(outputs, index, prepared.transform, params)

    def prediction(self, prepared: Prepared, result: Result, timings: Timings) -> Prediction:
        transform = prepared.transform
        return Prediction(self.id, self.task, transform.width, transform.height, result, timings)

    def predict(
        self,
        images: Sequence[Image],
        params: InferenceParams,
        decode_seconds: Sequence[float] | None = None,
    ) -> list[Prediction]:
        """Predict decoded images here and now, `max_batch` per session run.

        Each Prediction's timings hold its own decode, preprocess and postprocess time
        and the time of the session run it was part of.
        """
        feeds = self.feeds(params)
        prepared = [self.prepare(image) for image in images]
        predictions = []
        for start in range(0, len(prepared), self.max_batch):
            chunk = prepared[start : start + self.max_batch]
            started = time.perf_counter()
            outputs = self.run(stack([p.tensor for p in chunk]), feeds)
            ran = time.perf_counter() - started
            for i, item in enumerate(chunk, start):
                started = time.perf_counter()
                result = self.finish(outputs, i - start, item, params)
                timings = Timings(
                    decode=decode_seconds[i] if decode_seconds else 0.0,
                    preprocess=item.seconds,
                    inference=ran,
                    postprocess=time.perf_counter() - started,
                )
                predictions.append(self.prediction(item, result, timings))
        return predictions
