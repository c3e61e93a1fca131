"""One frozen settings object, read from the environment (GATEWAY_*) and the CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
PROFILES = ("default", "sagemaker")
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")


@dataclass(frozen=True)
class Settings:
    """Everything the gateway reads from its environment, validated once."""

    config_path: Path = Path("configs/models.yaml")
    provider: str = "auto"
    host: str = "0.0.0.0"
    port: int = 9001
    intra_op_threads: int = 0  # 0: onnxruntime picks (one per physical core)
    warmup: bool = True
    keys_path: Path | None = Path("configs/keys.yaml")
    api_keys: str = ""  # comma-separated keys with access to every model
    max_body_bytes: int = 20 * 1024 * 1024
    max_concurrent: int = 4  # predictions running at once per model
    max_waiting: int = 64  # requests waiting per model before 503 + Retry-After
    profile: str = "default"  # "sagemaker": port 8080, models from /opt/ml/model
    sagemaker_model: str | None = None  # model behind /invocations (default: first instance)
    sagemaker_threshold: float = 0.5  # score threshold of /invocations
    redis_url: str = ""  # task store across machines; empty: the SQLite file below
    task_db: Path = Path("var/tasks.sqlite3")
    task_ttl: float = 86400.0  # seconds finished tasks are kept
    matting_model: str | None = None  # model behind the matting route (default: first matting)
    matting_auth: str = "key"  # "none": the matting route takes no API key (seed 003)
    s3_endpoint_url: str = ""  # S3-compatible store for s3:// URLs; empty: AWS

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_CHOICES:
            raise ConfigError(
                f"GATEWAY_PROVIDER: expected one of {', '.join(PROVIDER_CHOICES)}, "
                f"got {self.provider!r}"
            )
        if self.profile not in PROFILES:
            raise ConfigError(f"GATEWAY_PROFILE: expected one of {', '.join(PROFILES)}")
        if self.matting_auth not in ("key", "none"):
            raise ConfigError("GATEWAY_MATTING_AUTH: expected key or none")
        if not 0.0 <= self.sagemaker_threshold <= 1.0:
            raise ConfigError("GATEWAY_SAGEMAKER_THRESHOLD: expected a number between 0 and 1")
        if not 0 < self.port < 65536:
            raise ConfigError(f"GATEWAY_PORT: expected a TCP port, got {self.port}")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, profile: str | None = None, **overrides: Any
    ) -> Settings:
        """Settings from GATEWAY_* variables; explicit overrides (CLI flags) win.

        The sagemaker profile (GATEWAY_PROFILE=sagemaker, or `profile=`) listens on
        SAGEMAKER_BIND_TO_PORT or 8080 and, unless GATEWAY_CONFIG says otherwise, loads
        /opt/ml/model/models.yaml, or every ONNX file in /opt/ml/model.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"profile": profile or env.get("GATEWAY_PROFILE", "default")}
        if values["profile"] == "sagemaker":
            values.update(_sagemaker_defaults(env))
        if "GATEWAY_CONFIG" in env:
            values["config_path"] = Path(env["GATEWAY_CONFIG"])
        if "GATEWAY_REDIS_URL" in env:
            values["redis_url"] = env["GATEWAY_REDIS_URL"]
        if "GATEWAY_TASK_DB" in env:
            values["task_db"] = Path(env["GATEWAY_TASK_DB"])
        if "GATEWAY_TASK_TTL" in env:
            try:
                values["task_ttl"] = float(env["GATEWAY_TASK_TTL"])
            except ValueError:
                raise ConfigError("GATEWAY_TASK_TTL: expected seconds") from None
        for name, key in (
            ("matting_model", "GATEWAY_MATTING_MODEL"),
            ("matting_auth", "GATEWAY_MATTING_AUTH"),
            ("s3_endpoint_url", "GATEWAY_S3_ENDPOINT_URL"),
        ):
            if key in env:
                values[name] = env[key]
        if "GATEWAY_SAGEMAKER_MODEL" in env:
            values["sagemaker_model"] = env["GATEWAY_SAGEMAKER_MODEL"]
        if "GATEWAY_SAGEMAKER_THRESHOLD" in env:
            try:
                values["sagemaker_threshold"] = float(env["GATEWAY_SAGEMAKER_THRESHOLD"])
            except ValueError:
                raise ConfigError("GATEWAY_SAGEMAKER_THRESHOLD: expected a number") from None
        if "GATEWAY_PROVIDER" in env:
            values["provider"] = env["GATEWAY_PROVIDER"].strip().lower()
        if "GATEWAY_HOST" in env:
            values["host"] = env["GATEWAY_HOST"]
        if "GATEWAY_KEYS_FILE" in env:
            values["keys_path"] = (
                Path(env["GATEWAY_KEYS_FILE"]) if env["GATEWAY_KEYS_FILE"] else None
            )
        if "GATEWAY_API_KEYS" in env:
            values["api_keys"] = env["GATEWAY_API_KEYS"]
        integers = (
            ("port", "GATEWAY_PORT"),
            ("intra_op_threads", "GATEWAY_THREADS"),
            ("max_body_bytes", "GATEWAY_MAX_BODY_BYTES"),
            ("max_concurrent", "GATEWAY_MAX_CONCURRENT"),
            ("max_waiting", "GATEWAY_MAX_WAITING"),
        )
        for name, key in integers:
            if key in env:
                try:
                    values[name] = int(env[key])
                except ValueError:
                    raise ConfigError(f"{key}: expected an integer, got {env[key]!r}") from None
        if values["profile"] == "sagemaker" and env.get("SAGEMAKER_BIND_TO_PORT", "").isdigit():
            values["port"] = int(env["SAGEMAKER_BIND_TO_PORT"])  # the platform's choice wins
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _sagemaker_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"port": 8080}
    model_dir = Path(env.get("GATEWAY_SAGEMAKER_MODEL_DIR", str(SAGEMAKER_MODEL_DIR)))
    if (model_dir / "models.yaml").is_file():
        values["config_path"] = model_dir / "models.yaml"
    elif model_dir.is_dir() and any(model_dir.glob("*.onnx")):
        values["config_path"] = model_dir
    return values
