"""Execution providers: use the best one installed, or the one a setting forces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
BY_SETTING = {"cpu": CPU, "cuda": CUDA, "tensorrt": TENSORRT}
DEVICE_PROVIDERS = frozenset({CUDA, TENSORRT})


def choose_providers(available: Sequence[str], setting: str = "auto") -> list[str]:
    """Providers to hand to onnxruntime, best first, always ending with the CPU.

    `setting` is `auto` (TensorRT, then CUDA, then CPU, as installed) or one of
    `cpu`, `cuda`, `tensorrt` to force that provider (with the ones below it as the
    fallback onnxruntime uses for nodes the forced one cannot run).
    """
    if setting == "auto":
        return [p for p in PREFERENCE if p in available] or [CPU]
    wanted = BY_SETTING[setting]
    if wanted not in available:
        raise ConfigError(
            f"GATEWAY_PROVIDER={setting}: {wanted} is not available in this onnxruntime "
            f"build (available: {', '.join(available)})"
        )
    return [p for p in PREFERENCE[PREFERENCE.index(wanted) :] if p in available]


def provider_options(
    providers: Sequence[str], fp16: bool = False, cache_dir: Path | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Each provider with its options.

    CUDA runs on device 0 of what CUDA_VISIBLE_DEVICES shows (one GPU per replica)
    and does not grow its memory arena past what a batch needs. TensorRT builds its
    engines in fp16 when asked and caches them in `cache_dir`, so that only the first
    start of a replica pays the build (minutes for a large model).
    """
    options: list[tuple[str, dict[str, Any]]] = []
    for provider in providers:
        if provider == CUDA:
            options.append((CUDA, {"device_id": 0, "arena_extend_strategy": "kSameAsRequested"}))
        elif provider == TENSORRT:
            trt: dict[str, Any] = {"device_id": 0, "trt_fp16_enable": fp16}
            if cache_dir is not None:
                trt |= {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir)}
            options.append((TENSORRT, trt))
        else:
            options.append((provider, {}))
    return options


def on_device(providers: Sequence[str]) -> bool:
    """Whether the session's first provider runs on a GPU."""
    return bool(providers) and providers[0] in DEVICE_PROVIDERS
