"""Run the app on hypercorn, with a graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.registry import ModelRegistry
from gateway.settings import Settings

log = logging.getLogger(__name__)


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Hypercorn's loggers propagate to the root handler set up by the CLI: one line each.
    config.accesslog = logging.getLogger("hypercorn.access")
    config.errorlog = logging.getLogger("hypercorn.error")
    # After the signal, in-flight requests get this long before connections are closed;
    # then the lifespan shutdown gives running async tasks the same grace.
    config.graceful_timeout = settings.shutdown_grace
    return config


async def serve_until_signalled(app: Starlette, config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def draining() -> None:
        await stop.wait()
        log.info("shutting down: draining in-flight requests and tasks")
        state = getattr(app.state, "gateway", None)
        if state is not None:
            state.draining = True  # /readyz answers 503 on connections still open

    await hypercorn_serve(app, config, shutdown_trigger=draining)  # type: ignore[arg-type]


def serve(settings: Settings) -> None:
    """Load every model (failing fast on a bad config), then serve until signalled."""
    registry = ModelRegistry.from_settings(settings)
    asyncio.run(serve_until_signalled(create_app(settings, registry), hypercorn_config(settings)))
