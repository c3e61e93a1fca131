"""Works the task queue from this process: claims tasks, runs their handlers, ends them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from gateway.errors import GatewayError, Unavailable
from gateway.jobs import Claim, Job, JobStore

log = logging.getLogger(__name__)

# A handler runs one task from its payload and returns its JSON-able result.
Handler = Callable[[bytes], Awaitable[Any]]
T = TypeVar("T")


def open_store(
    redis_url: str, sqlite_path: Path, ttl: float, worker_timeout: float = 30.0
) -> JobStore:
    """Redis when a URL is configured, else the embedded SQLite file."""
    if redis_url:
        from gateway.jobs.redis import RedisJobStore

        return RedisJobStore(redis_url, ttl, worker_timeout)
    from gateway.jobs.sqlite import SqliteJobStore

    return SqliteJobStore(sqlite_path, ttl, worker_timeout)


class JobRunner:
    """This process's share of the task queue.

    `submit` queues a task in the store (refused with 503 once `max_queued` tasks wait)
    and wakes this process's consumer, which claims tasks while fewer than
    `concurrency` run here; other processes poll the store every `poll_every` seconds.
    Heartbeats tell other processes this one is alive, and each beat re-queues the tasks
    of processes that are not. On shutdown, work still running after the grace period is
    cancelled and its tasks go back to the queue, for another process or the next start.
    A handler that finds the gateway busy (Unavailable) puts its task back too.
    """

    def __init__(
        self,
        store: JobStore,
        handlers: Mapping[str, Handler],
        concurrency: int = 8,
        max_queued: int = 1024,
        heartbeat_every: float = 5.0,
        poll_every: float = 0.5,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.max_queued = max_queued
        self.heartbeat_every = heartbeat_every
        self.poll_every = poll_every
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        try:
            await self._call(self.store.heartbeat, self.owner)
        except GatewayError as exc:  # the routes that need the store answer 503 meanwhile
            log.warning("task store unavailable at start-up: %s", exc)
        self._background = [
            asyncio.create_task(self._beat()),
            asyncio.create_task(self._consume()),
        ]

    @staticmethod
    async def _call(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            try:
                await self._call(self.store.heartbeat, self.owner)
                if requeued := await self._call(self.store.recover):
                    log.warning("%d tasks of a stopped worker went back to the queue", requeued)
                    self._wake.set()
            except GatewayError as exc:
                log.warning("task store heartbeat failed: %s", exc)

    async def submit(self, kind: str, payload: bytes, client: str = "") -> Job:
        """Queue a task of `kind` for `client`; its handler runs it in some process."""
        if kind not in self.handlers:
            raise GatewayError(f"no handler for tasks of kind {kind!r}")
        waiting = await self._call(self.store.queued)
        if waiting >= self.max_queued:
            raise Unavailable(
                f"{waiting} tasks are already waiting; retry shortly", retry_after=2, reason="tasks"
            )
        job = await self._call(self.store.create, kind, payload, client)
        self._wake.set()
        return job

    async def _consume(self) -> None:
        while True:
            if len(self._running) >= self.concurrency:
                await asyncio.wait(list(self._running.values()), return_when="FIRST_COMPLETED")
                continue
            try:
                claim = await self._call(self.store.claim, self.owner)
            except GatewayError as exc:
                log.warning("could not claim a task: %s", exc)
                claim = None
            if claim is None:
                self._wake.clear()
                # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation
                # that arrives as the wait ends, and shutdown would then hang here.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_every):
                        await self._wake.wait()
                continue
            task = asyncio.create_task(self._run(claim))
            self._running[claim.id] = task
            task.add_done_callback(partial(self._forget, claim.id))

    def _forget(self, job_id: int, _: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)

    async def _run(self, claim: Claim) -> None:
        handler = self.handlers.get(claim.kind)
        try:
            if handler is None:
                raise GatewayError(f"this gateway cannot run tasks of kind {claim.kind!r}")
            data = await handler(claim.payload)
        except Unavailable as exc:  # busy here: let this or another process retry it
            try:
                await asyncio.sleep(exc.retry_after or 1)
            finally:
                await self._settle(self.store.release, claim.id)
        except GatewayError as exc:
            await self._settle(self.store.fail, claim.id, str(exc))
        except asyncio.CancelledError:
            await self._settle(self.store.release, claim.id)
            raise
        except Exception:
            log.exception("task %s failed", claim.id)
            await self._settle(self.store.fail, claim.id, "internal error")
        else:
            await self._settle(self.store.finish, claim.id, data)

    async def _settle(self, fn: Callable[..., None], job_id: int, *args: Any) -> None:
        """Record how a task ended. If the store cannot be reached, that is logged and
        the task stays claimed: it runs again elsewhere once this process has stopped."""
        try:
            await self._call(fn, job_id, *args)
        except GatewayError as exc:
            log.warning("task %s: could not record its end: %s", job_id, exc)

    async def get(self, job_id: int) -> Job | None:
        return await self._call(self.store.get, job_id)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let running work finish for `grace` seconds, then put the rest
        back in the queue."""
        beat, consume = self._background or (None, None)
        if consume is not None:
            consume.cancel()  # no more claims; the beat goes on while work finishes
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in [*self._running.values(), *([beat] if beat is not None else [])]:
            task.cancel()  # each task once: a second cancel could be lost
        for task in [*self._running.values(), *self._background]:
            with contextlib.suppress(asyncio.CancelledError, GatewayError):
                await task
        self.store.close()
