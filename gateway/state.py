"""What one gateway process holds while it serves: settings, models, keys."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gateway.access import Access
from gateway.addresses import AddressPolicy
from gateway.admission import Admission, Inflight
from gateway.auth import KeyStore, load_keys
from gateway.fetch import Fetcher, FetchLimits
from gateway.images import ImageLimits
from gateway.jobs.runner import JobRunner
from gateway.limits import LimitStore
from gateway.metrics import Metrics
from gateway.modelconfig import DEFAULT_WORKSPACE, load_workspace
from gateway.pipeline import Pipeline
from gateway.registry import ModelRegistry
from gateway.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    settings: Settings
    registry: ModelRegistry
    keys: KeyStore
    access: Access
    admission: Admission
    fetcher: Fetcher
    image_limits: ImageLimits
    inflight: Inflight
    pipeline: Pipeline
    workspace: str = DEFAULT_WORKSPACE
    jobs: JobRunner | None = None  # started by the app's lifespan
    draining: bool = False  # shutting down: not ready, in-flight work finishing
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    metrics: Metrics = field(default_factory=Metrics)  # the app's, served on /metrics

    @classmethod
    def build(
        cls,
        settings: Settings,
        registry: ModelRegistry | None = None,
        metrics: Metrics | None = None,
    ) -> GatewayState:
        """Load keys and (unless given) every configured model."""
        keys = KeyStore(load_keys(settings.keys_path, settings.api_keys))
        if keys.demo_key_active:
            log.warning(
                "the public local demo API key is active (%s): remove it before exposing "
                "this gateway",
                settings.keys_path,
            )
        if not len(keys):
            log.warning("no API keys are configured: every inference request will get 401")
        workspace = load_workspace(settings.config_path)
        registry = registry or ModelRegistry.from_settings(settings)
        metrics = metrics or Metrics()
        metrics.models_loaded(registry)
        return cls(
            settings,
            registry,
            keys,
            access_for(settings, keys),
            Admission(settings.max_concurrent, settings.max_waiting),
            fetcher_for(settings, metrics),
            ImageLimits(settings.max_image_bytes, settings.max_pixels, settings.max_side),
            Inflight(settings.max_inflight),
            Pipeline(registry, settings.runs_per_model, settings.worker_threads, metrics),
            workspace,
            metrics=metrics,
        )


def access_for(settings: Settings, keys: KeyStore) -> Access:
    """Keys and their limits; the limit store is opened only when some key has limits."""
    defaults = settings.limits()
    limited = defaults.active or any(key.limits and key.limits.active for key in keys)
    store = open_limit_store(settings.redis_url, settings.task_db) if limited else None
    return Access(keys, store, defaults, lease_seconds=settings.request_timeout + 5)


def open_limit_store(redis_url: str, sqlite_path: Path) -> LimitStore:
    """Redis when a URL is configured, else the SQLite file the tasks use."""
    if redis_url:
        from gateway.limits.redis import RedisLimitStore

        return RedisLimitStore(redis_url)
    from gateway.limits.sqlite import SqliteLimitStore

    return SqliteLimitStore(sqlite_path)


def fetcher_for(settings: Settings, metrics: Metrics | None = None) -> Fetcher:
    """The URL fetcher with the settings' allow-list, deadline and image byte cap."""
    limits = FetchLimits(total_timeout=settings.fetch_timeout, max_bytes=settings.max_image_bytes)
    observe = metrics.fetched if metrics is not None else None
    return Fetcher(AddressPolicy.parse(settings.fetch_allow), limits, observe=observe)
