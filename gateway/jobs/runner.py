"""Runs submitted work in the background of this process and records it in the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from gateway.errors import GatewayError, Unavailable
from gateway.jobs import Job, JobStore

log = logging.getLogger(__name__)
SHUT_DOWN = "the gateway shut down before finishing this task"


def open_store(redis_url: str, sqlite_path: Path, ttl: float) -> JobStore:
    """Redis when a URL is configured, else the embedded SQLite file."""
    if redis_url:
        from gateway.jobs.redis import RedisJobStore

        return RedisJobStore(redis_url, ttl)
    from gateway.jobs.sqlite import SqliteJobStore

    return SqliteJobStore(sqlite_path, ttl)


class JobRunner:
    """Background tasks of one process: created pending, ended success or error.

    The process heartbeats into the store so that others can tell its pending tasks
    from orphans; on shutdown, work still running after the grace period is cancelled
    and its tasks end as errors, never left pending.
    """

    def __init__(
        self, store: JobStore, heartbeat_every: float = 5.0, max_pending: int = 1024
    ) -> None:
        self.store = store
        self.max_pending = max_pending
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.heartbeat_every = heartbeat_every
        self._running: dict[int, asyncio.Task[None]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.store.heartbeat, self.owner)
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            try:
                await anyio.to_thread.run_sync(self.store.heartbeat, self.owner)
            except GatewayError as exc:
                log.warning("task store heartbeat failed: %s", exc)

    async def submit(self, work: Callable[[], Awaitable[Any]], client: str = "") -> Job:
        """Create a pending task for `client` and run `work` for it in the background.

        At most `max_pending` tasks run or wait in this process; beyond that the
        submission is refused with Unavailable (503 + Retry-After) and nothing is stored.
        """
        if len(self._running) >= self.max_pending:
            raise Unavailable(
                f"{len(self._running)} tasks are already running here; retry shortly",
                retry_after=2,
            )
        job = await anyio.to_thread.run_sync(self.store.create, self.owner, client)
        task = asyncio.create_task(self._run(job.id, work))
        self._running[job.id] = task
        task.add_done_callback(lambda _: self._running.pop(job.id, None))
        return job

    async def _run(self, job_id: int, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            data = await work()
        except GatewayError as exc:
            await anyio.to_thread.run_sync(self.store.fail, job_id, str(exc))
        except asyncio.CancelledError:
            await anyio.to_thread.run_sync(self.store.fail, job_id, SHUT_DOWN)
            raise
        except Exception:
            log.exception("task %s failed", job_id)
            await anyio.to_thread.run_sync(self.store.fail, job_id, "internal error")
        else:
            await anyio.to_thread.run_sync(self.store.finish, job_id, data)

    async def get(self, job_id: int) -> Job | None:
        return await anyio.to_thread.run_sync(self.store.get, job_id)

    async def stop(self, grace: float = 10.0) -> None:
        """Let running work finish for `grace` seconds, then end the rest as errors."""
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        self.store.close()
