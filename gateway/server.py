"""Run the app on hypercorn."""

from __future__ import annotations

import asyncio
import logging

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
    # Hypercorn's loggers propagate to the root handler set up by the CLI: one line each.
    config.accesslog = logging.getLogger("hypercorn.access")
    config.errorlog = logging.getLogger("hypercorn.error")
    asyncio.run(hypercorn_serve(create_app(settings, registry), config))  # type: ignore[arg-type]
