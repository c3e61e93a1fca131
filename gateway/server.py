"""Run the app on hypercorn, with a graceful shutdown on SIGTERM/SIGINT.

One process by default. With GATEWAY_WORKERS=N the parent binds the port once and
starts N worker processes (spawned, each loading its own models) that accept on the
same sockets; the parent forwards SIGTERM/SIGINT to them and exits when they do. If a
worker dies on its own, the parent stops the others and exits non-zero, so the
supervisor (Docker, systemd, Kubernetes) restarts the whole replica. The workers keep
their Prometheus metrics in files of one directory (PROMETHEUS_MULTIPROC_DIR: a fresh
temporary one unless it is set), so that /metrics covers all of them (gateway/metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app
from prometheus_client import multiprocess
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.metrics import MULTIPROC_ENV
from gateway.modelconfig import load_model_configs
from gateway.registry import ModelRegistry
from gateway.settings import Settings

log = logging.getLogger(__name__)


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Hypercorn's errors propagate to the root handler set up by the CLI. Its access log
    # is off: the gateway writes its own (gateway.access, gateway/observe.py).
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    # After the signal, in-flight requests get this long before connections are closed;
    # then the lifespan shutdown gives running async tasks the same grace.
    config.graceful_timeout = settings.shutdown_grace
    # Longer than a load balancer's idle timeout (nginx upstream keepalive, AWS ALB: 60 s),
    # so the balancer, not the gateway, closes an idle connection: no request is sent on
    # a socket the gateway has just closed.
    config.keep_alive_timeout = settings.keep_alive
    return config


async def serve_until_signalled(
    app: Starlette, config: Config, sockets: Sockets | None = None
) -> None:
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

    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    await worker_serve(wrapped, config, sockets=sockets, shutdown_trigger=draining)


def _serve_worker(settings: Settings, sockets: Sockets | None) -> None:
    """One server process: load every model (failing fast on a bad config), then serve."""
    registry = ModelRegistry.from_settings(settings)
    app = create_app(settings, registry)
    asyncio.run(serve_until_signalled(app, hypercorn_config(settings), sockets))


def _worker_main(settings: Settings, sockets: Sockets) -> None:
    configure_logging(settings.log_format)
    _serve_worker(settings, sockets)


def serve(settings: Settings) -> int:
    """Serve until signalled; the exit status is 0 after a requested shutdown."""
    if settings.workers == 1:
        _serve_worker(settings, None)
        return 0
    load_model_configs(settings.config_path)  # a bad config fails here, not N times
    own_directory = MULTIPROC_ENV not in os.environ
    if own_directory:  # read by each worker's prometheus_client as it is imported
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="gateway-metrics-")
    log.info("the workers' metrics are collected in %s", os.environ[MULTIPROC_ENV])
    try:
        return _serve_workers(settings)
    finally:
        if own_directory:
            shutil.rmtree(os.environ.pop(MULTIPROC_ENV), ignore_errors=True)


def _serve_workers(settings: Settings) -> int:
    config = hypercorn_config(settings)
    config.workers = settings.workers
    sockets = config.create_sockets()
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.pid is not None and process.exitcode is None:
                process.terminate()  # SIGTERM: each worker drains its own requests

    # Workers inherit "ignore" until their own event loop installs its handlers.
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    for index in range(settings.workers):
        process = context.Process(
            target=_worker_main, args=(settings, sockets), name=f"gateway-worker-{index}"
        )
        process.start()
        workers.append(process)
    for signum in previous:
        signal.signal(signum, stop)
    log.info("serving on %s with %d worker processes", config.bind[0], len(workers))
    wait([process.sentinel for process in workers])
    if not stopping:
        failed = next(p for p in workers if p.exitcode is not None)
        log.error("worker %s exited (status %s): stopping the others", failed.name, failed.exitcode)
        stop(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
        if worker.pid is not None:  # its live gauges (in-flight, queue depth) end with it
            multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    return 0 if stopping and all(p.exitcode == 0 for p in workers) else 1
