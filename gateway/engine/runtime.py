"""How models are run, independent of any one model: provider, precision, batching."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def machine_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Runtime:
    """How models run: the gateway's settings, which a model's config may override."""

    provider: str = "auto"
    threads: int = 0  # onnxruntime intra-op threads; 0: its own choice
    fp16: bool = False
    trt_cache: Path | None = None
    io_binding: bool | None = None  # None: on a GPU only
    max_batch: int = 8
    batch_wait_ms: float = 0.0
