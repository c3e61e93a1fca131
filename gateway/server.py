"""Run the app on hypercorn."""

from __future__ import annotations

import asyncio

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from gateway.app import create_app
from gateway.registry import ModelRegistry
from gateway.settings import Settings


def serve(settings: Settings) -> None:
    """Load every model (failing fast on a bad config), then serve until interrupted."""
    registry = ModelRegistry.from_settings(settings)
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = "-"
    asyncio.run(hypercorn_serve(create_app(settings, registry), config))  # type: ignore[arg-type]
