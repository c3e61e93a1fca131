"""One frozen settings object, read from the environment (GATEWAY_*) and the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.engine.runtime import Runtime, machine_cpus
from gateway.errors import ConfigError
from gateway.limits import Limits

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
    intra_op_threads: int = 0  # onnxruntime threads per run; 0: CPUs / (workers x runs)
    workers: int = 1  # server processes sharing the port, each with its own models
    keep_alive: float = 75.0  # idle seconds a client connection is kept (above LBs' 60 s)
    warmup: bool = True
    keys_path: Path | None = Path("configs/keys.yaml")
    api_keys: str = ""  # comma-separated keys with access to every model
    # Limits on what a request may be (413/408 beyond them) ...
    max_body_bytes: int = 28 * 1024 * 1024  # room for a max-size image as base64
    max_image_bytes: int = 20 * 1024 * 1024  # one encoded image: uploaded, base64 or fetched
    max_pixels: int = 40_000_000  # width x height, read from the header before decoding
    max_side: int = 16384  # longest side in pixels
    max_form_parts: int = 16  # multipart/form-data parts (files and fields)
    body_timeout: float = 30.0  # seconds to receive the body (408 beyond)
    request_timeout: float = 60.0  # seconds for the whole request (503 beyond)
    fetch_allow: str = ""  # hosts/CIDRs image URLs may reach besides public addresses
    fetch_timeout: float = 20.0  # seconds for one image URL, redirects included
    # ... and on how much work is held at once (503 + Retry-After beyond them).
    max_concurrent: int = 16  # requests per model being decoded, batched or post-processed
    max_waiting: int = 64  # requests waiting per model before 503 + Retry-After
    max_inflight: int = 256  # requests being handled by this process, all routes
    max_pending_tasks: int = 1024  # asynchronous tasks queued in the store, all replicas
    task_concurrency: int = 8  # asynchronous tasks this process runs at once
    task_heartbeat: float = 5.0  # seconds; after 3 missed beats a process's tasks re-queue
    # Per-key limits for keys whose entry sets none (429 + Retry-After beyond them).
    rate_limit: float = 0.0  # requests per second per key, all replicas; 0: none
    rate_burst: int = 0  # requests above the rate admitted at once; 0: max(1, rate)
    concurrency_limit: int = 0  # requests in progress per key, all replicas; 0: none
    shutdown_grace: float = 10.0  # seconds in-flight requests and tasks get on shutdown
    # Dynamic batching (models.yaml may override the first two per model).
    max_batch: int = 8  # images per session run, for models with a dynamic batch axis
    batch_wait_ms: float = 0.0  # extra wait for a fuller batch when a runner is free
    runs_per_model: int = 0  # session runs at once per model; 0: 1 on a CPU, 2 on a GPU
    worker_threads: int = 0  # threads for decode/pre/post-processing; 0: one per CPU
    fp16: bool = False  # convert models to float16 (GPU); models.yaml `fp16:` overrides
    trt_cache: Path | None = None  # TensorRT engine cache directory
    profile: str = "default"  # "sagemaker": port 8080, models from /opt/ml/model
    sagemaker_model: str | None = None  # model behind /invocations (default: first instance)
    sagemaker_threshold: float = 0.5  # score threshold of /invocations
    redis_url: str = ""  # task store across machines; empty: the SQLite file below
    task_db: Path = Path("var/tasks.sqlite3")
    task_ttl: float = 86400.0  # seconds finished tasks are kept
    matting_model: str | None = None  # model behind the matting route (default: first matting)
    matting_auth: str = "key"  # "none": the matting route takes no API key (seed 003)
    s3_endpoint_url: str = ""  # S3-compatible store for s3:// URLs; empty: AWS
    log_format: str = "json"  # "json": one JSON object per log line; "text": for people

    def limits(self) -> Limits:
        """The limits of keys whose entry in the keys file sets none."""
        return Limits(self.rate_limit, self.rate_burst, self.concurrency_limit)

    def runtime(self) -> Runtime:
        """How models run, as these settings say. With several worker processes or runs
        per model set, each run gets its share of the CPUs unless GATEWAY_THREADS says
        otherwise."""
        runs = self.workers * (self.runs_per_model or 1)
        shared = max(1, machine_cpus() // runs) if runs > 1 else 0
        return Runtime(
            provider=self.provider,
            threads=self.intra_op_threads or shared,
            fp16=self.fp16,
            trt_cache=self.trt_cache,
            max_batch=self.max_batch,
            batch_wait_ms=self.batch_wait_ms,
        )

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_CHOICES:
            raise ConfigError(
                f"GATEWAY_PROVIDER: expected one of {', '.join(PROVIDER_CHOICES)}, "
                f"got {self.provider!r}"
            )
        if self.profile not in PROFILES:
            raise ConfigError(f"GATEWAY_PROFILE: expected one of {', '.join(PROFILES)}")
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"GATEWAY_LOG_FORMAT: expected json or text, got {self.log_format!r}")
        if self.matting_auth not in ("key", "none"):
            raise ConfigError("GATEWAY_MATTING_AUTH: expected key or none")
        if not 0.0 <= self.sagemaker_threshold <= 1.0:
            raise ConfigError("GATEWAY_SAGEMAKER_THRESHOLD: expected a number between 0 and 1")
        if not 0 < self.port < 65536:
            raise ConfigError(f"GATEWAY_PORT: expected a TCP port, got {self.port}")
        positive = (
            "max_body_bytes max_image_bytes max_pixels max_side max_form_parts body_timeout "
            "request_timeout fetch_timeout max_concurrent max_inflight max_pending_tasks "
            "task_concurrency task_heartbeat "
            "max_batch workers keep_alive"
        )
        zero_or_more = (
            "batch_wait_ms runs_per_model worker_threads rate_limit rate_burst concurrency_limit"
        )
        for name in zero_or_more.split():
            if getattr(self, name) < 0:
                variable = next(v for v, (f, _) in ENVIRONMENT.items() if f == name)
                raise ConfigError(f"{variable}: expected 0 or more, got {getattr(self, name)}")
        for name in positive.split():
            if not getattr(self, name) > 0:
                variable = next((v for v, (f, _) in ENVIRONMENT.items() if f == name), name)
                raise ConfigError(
                    f"{variable}: expected a positive number, got {getattr(self, name)}"
                )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, profile: str | None = None, **overrides: Any
    ) -> Settings:
        """Settings from GATEWAY_* variables (ENVIRONMENT below); explicit overrides win.

        The sagemaker profile (GATEWAY_PROFILE=sagemaker, or `profile=`) listens on
        SAGEMAKER_BIND_TO_PORT or 8080 and, unless GATEWAY_CONFIG says otherwise, loads
        /opt/ml/model/models.yaml, or every ONNX file in /opt/ml/model.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"profile": profile or env.get("GATEWAY_PROFILE", "default")}
        if values["profile"] == "sagemaker":
            values.update(_sagemaker_defaults(env))
        for variable, (name, convert) in ENVIRONMENT.items():
            if variable in env:
                try:
                    values[name] = convert(env[variable])
                except ValueError:
                    kind = CONVERSION_NAMES.get(convert, "a value")
                    raise ConfigError(
                        f"{variable}: expected {kind}, got {env[variable]!r}"
                    ) from None
        if values["profile"] == "sagemaker" and env.get("SAGEMAKER_BIND_TO_PORT", "").isdigit():
            values["port"] = int(env["SAGEMAKER_BIND_TO_PORT"])  # the platform's choice wins
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def _lower(text: str) -> str:
    return text.strip().lower()


FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False}
FLAGS |= {"off": False, "": False}


def _flag(text: str) -> bool:
    try:
        return FLAGS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


CONVERSION_NAMES: dict[Callable[[str], Any], str] = {
    int: "an integer",
    float: "a number",
    _flag: "1/true/yes/on or 0/false/no/off",
}

# Environment variable -> (Settings field, conversion).
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "GATEWAY_CONFIG": ("config_path", Path),
    "GATEWAY_PROVIDER": ("provider", _lower),
    "GATEWAY_HOST": ("host", str),
    "GATEWAY_PORT": ("port", int),
    "GATEWAY_THREADS": ("intra_op_threads", int),
    "GATEWAY_WORKERS": ("workers", int),
    "GATEWAY_KEEP_ALIVE": ("keep_alive", float),
    "GATEWAY_KEYS_FILE": ("keys_path", _optional_path),
    "GATEWAY_API_KEYS": ("api_keys", str),
    "GATEWAY_MAX_BODY_BYTES": ("max_body_bytes", int),
    "GATEWAY_MAX_IMAGE_BYTES": ("max_image_bytes", int),
    "GATEWAY_MAX_PIXELS": ("max_pixels", int),
    "GATEWAY_MAX_SIDE": ("max_side", int),
    "GATEWAY_MAX_FORM_PARTS": ("max_form_parts", int),
    "GATEWAY_BODY_TIMEOUT": ("body_timeout", float),
    "GATEWAY_REQUEST_TIMEOUT": ("request_timeout", float),
    "GATEWAY_FETCH_ALLOW": ("fetch_allow", str),
    "GATEWAY_FETCH_TIMEOUT": ("fetch_timeout", float),
    "GATEWAY_MAX_CONCURRENT": ("max_concurrent", int),
    "GATEWAY_MAX_WAITING": ("max_waiting", int),
    "GATEWAY_MAX_INFLIGHT": ("max_inflight", int),
    "GATEWAY_MAX_PENDING_TASKS": ("max_pending_tasks", int),
    "GATEWAY_TASK_CONCURRENCY": ("task_concurrency", int),
    "GATEWAY_TASK_HEARTBEAT": ("task_heartbeat", float),
    "GATEWAY_RATE_LIMIT": ("rate_limit", float),
    "GATEWAY_RATE_BURST": ("rate_burst", int),
    "GATEWAY_CONCURRENCY_LIMIT": ("concurrency_limit", int),
    "GATEWAY_SHUTDOWN_GRACE": ("shutdown_grace", float),
    "GATEWAY_MAX_BATCH": ("max_batch", int),
    "GATEWAY_BATCH_WAIT_MS": ("batch_wait_ms", float),
    "GATEWAY_RUNS_PER_MODEL": ("runs_per_model", int),
    "GATEWAY_WORKER_THREADS": ("worker_threads", int),
    "GATEWAY_FP16": ("fp16", _flag),
    "GATEWAY_TRT_CACHE": ("trt_cache", _optional_path),
    "GATEWAY_SAGEMAKER_MODEL": ("sagemaker_model", str),
    "GATEWAY_SAGEMAKER_THRESHOLD": ("sagemaker_threshold", float),
    "GATEWAY_REDIS_URL": ("redis_url", str),
    "GATEWAY_TASK_DB": ("task_db", Path),
    "GATEWAY_TASK_TTL": ("task_ttl", float),
    "GATEWAY_MATTING_MODEL": ("matting_model", str),
    "GATEWAY_MATTING_AUTH": ("matting_auth", str),
    "GATEWAY_S3_ENDPOINT_URL": ("s3_endpoint_url", str),
    "GATEWAY_LOG_FORMAT": ("log_format", _lower),
}


def _sagemaker_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"port": 8080}
    model_dir = Path(env.get("GATEWAY_SAGEMAKER_MODEL_DIR", str(SAGEMAKER_MODEL_DIR)))
    if (model_dir / "models.yaml").is_file():
        values["config_path"] = model_dir / "models.yaml"
    elif model_dir.is_dir() and any(model_dir.glob("*.onnx")):
        values["config_path"] = model_dir
    return values
