"""A loaded model: spec + session + task handler, turning images into Predictions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from gateway.engine.session import Session
from gateway.errors import ModelError
from gateway.images import Image
from gateway.modelconfig import ModelConfig
from gateway.params import InferenceParams
from gateway.preprocess import Transform, fit, to_tensor
from gateway.results import Prediction, Result, Task, Timings
from gateway.spec import ModelSpec, resolve_spec
from gateway.tasks import TaskHandler, handler_for


def read_onnx(path: Path, model_id: str) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf and onnx raise several unrelated types
        raise ModelError(f"model '{model_id}': {path} is not a readable ONNX file: {exc}") from exc


class Model:
    """preprocess -> session run (with the task's head) -> postprocess, for one model."""

    def __init__(
        self, spec: ModelSpec, session: Session, handler: TaskHandler, path: Path | None = None
    ) -> None:
        self.spec = spec
        self.session = session
        self.handler = handler
        self.path = path

    @classmethod
    def load(cls, config: ModelConfig, provider: str = "auto", threads: int = 0) -> Model:
        """Read the file, resolve its spec, append the task head and open a session."""
        proto = read_onnx(config.path, config.id)
        spec = resolve_spec(config, proto)
        handler = handler_for(spec)
        graph = handler.attach(proto).SerializeToString()
        return cls(spec, Session(graph, config.id, provider, threads), handler, config.path)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def task(self) -> Task:
        return self.spec.task

    def warmup(self) -> None:
        """One run on a blank image, so the first request does not pay for lazy set-up."""
        pre = self.spec.preprocessing
        self.predict([np.full((pre.height, pre.width, 3), 114, np.uint8)], InferenceParams())

    def validate(self, params: InferenceParams) -> None:
        """Raise InvalidParameter now, before any image work, if params do not fit."""
        self.handler.feeds(params)

    def _run(self, tensor: np.ndarray, params: InferenceParams) -> dict[str, np.ndarray]:
        feeds = self.handler.feeds(params)
        feeds[self.spec.preprocessing.input_name] = tensor
        return self.session.run(self.handler.outputs, feeds)

    def _infer(
        self, tensor: np.ndarray, transforms: list[Transform], params: InferenceParams
    ) -> tuple[list[Result], float]:
        """Results, and the clock when the session run(s) ended."""
        if self.spec.dynamic_batch or len(transforms) == 1:
            outputs = self._run(tensor, params)
            ran = time.perf_counter()
            return self.handler.postprocess(outputs, transforms, params), ran
        # A fixed batch axis of 1: one run per image.
        outputs_each = [self._run(tensor[i : i + 1], params) for i in range(len(transforms))]
        ran = time.perf_counter()
        results = [
            result
            for outputs, transform in zip(outputs_each, transforms, strict=True)
            for result in self.handler.postprocess(outputs, [transform], params)
        ]
        return results, ran

    def predict(
        self,
        images: Sequence[Image],
        params: InferenceParams,
        decode_seconds: Sequence[float] | None = None,
    ) -> list[Prediction]:
        """Predict a batch of decoded images (one session run when the batch axis allows).

        Each Prediction's timings hold its share of the batch's preprocess, session
        run and postprocess time, plus its own decode time when given.
        """
        pre = self.spec.preprocessing
        started = time.perf_counter()
        fitted = [fit(image, pre) for image in images]
        transforms = [transform for _, transform in fitted]
        tensor = to_tensor([canvas for canvas, _ in fitted], pre)
        prepared = time.perf_counter()
        results, ran = self._infer(tensor, transforms, params)
        finished = time.perf_counter()
        n = len(images)
        predictions = []
        for i, (result, transform) in enumerate(zip(results, transforms, strict=True)):
            timings = Timings(
                decode=decode_seconds[i] if decode_seconds else 0.0,
                preprocess=(prepared - started) / n,
                inference=(ran - prepared) / n,
                postprocess=(finished - ran) / n,
            )
            predictions.append(
                Prediction(self.id, self.task, transform.width, transform.height, result, timings)
            )
        return predictions
