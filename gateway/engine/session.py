"""onnxruntime sessions: one per model, on the chosen execution providers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from gateway.engine.providers import choose_providers
from gateway.errors import ModelError


class Session:
    """A thin, thread-safe wrapper over `onnxruntime.InferenceSession`.

    onnxruntime releases the GIL while it runs, so several threads may call `run`.
    """

    def __init__(
        self, model_bytes: bytes, model_id: str, provider: str = "auto", threads: int = 0
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        providers = choose_providers(ort.get_available_providers(), provider)
        try:
            self._session = ort.InferenceSession(model_bytes, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model '{model_id}': onnxruntime cannot load it: {exc}") from exc
        self.providers: list[str] = self._session.get_providers()
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(
        self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        values = self._session.run(list(output_names), dict(feeds))
        return dict(zip(output_names, values, strict=True))
