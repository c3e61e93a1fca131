"""Execution providers: use the best one installed, or the one a setting forces."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import ConfigError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
BY_SETTING = {"cpu": CPU, "cuda": CUDA, "tensorrt": TENSORRT}


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
