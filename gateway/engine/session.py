"""onnxruntime sessions: one per model, on the chosen execution providers.

On a GPU every run goes through an IOBinding: the input batch is copied to the device
once, the outputs are left where the graph produced them, and only the appended
head's small outputs (the kept detections, a uint8 class map) are copied back. The
same binding path runs on the CPU when asked (`io_binding=True`), which is how the
tests cover it on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from gateway.engine.providers import choose_providers, on_device, provider_options
from gateway.errors import ModelError


class Session:
    """A thin, thread-safe wrapper over `onnxruntime.InferenceSession`.

    onnxruntime releases the GIL while it runs, so several threads may call `run`.
    """

    def __init__(
        self,
        model_bytes: bytes,
        model_id: str,
        provider: str = "auto",
        threads: int = 0,
        *,
        fp16: bool = False,
        cache_dir: Path | None = None,
        io_binding: bool | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        chosen = choose_providers(ort.get_available_providers(), provider)
        try:
            self._session = ort.InferenceSession(
                model_bytes, options, providers=provider_options(chosen, fp16, cache_dir)
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model '{model_id}': onnxruntime cannot load it: {exc}") from exc
        self.providers: list[str] = self._session.get_providers()
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        self.on_device = on_device(self.providers)
        self.device = "cuda" if self.on_device else "cpu"
        self.io_binding = self.on_device if io_binding is None else io_binding
        self.fp16 = fp16

    def run(
        self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if self.io_binding:
            return self._run_bound(output_names, feeds)
        values = self._session.run(list(output_names), dict(feeds))
        return dict(zip(output_names, values, strict=True))

    def _run_bound(
        self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        binding = self._session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in output_names:
            binding.bind_output(name, self.device)
        self._session.run_with_iobinding(binding)
        values = binding.copy_outputs_to_cpu()
        return dict(zip(output_names, values, strict=True))
