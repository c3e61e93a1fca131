"""Per-model admission: bounded concurrency and a bounded wait, so overload is a quick 503.

Each model runs at most `max_concurrent` predictions at once; up to `max_waiting`
more requests wait for a slot; anything beyond is refused at once with Unavailable,
which dialects answer with 503 and Retry-After, so clients back off and retry
(inference-sdk retries 503 and 429) instead of piling up behind a long queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from gateway.errors import Unavailable


class ModelGate:
    def __init__(self, max_concurrent: int, max_waiting: int) -> None:
        self._slots = anyio.Semaphore(max_concurrent)
        self._max_waiting = max_waiting
        self.waiting = 0

    @asynccontextmanager
    async def slot(self, model_id: str) -> AsyncIterator[None]:
        if self._slots.value == 0 and self.waiting >= self._max_waiting:
            raise Unavailable(f"model '{model_id}' is at capacity; retry shortly", retry_after=1)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


class Admission:
    """One gate per model id, created on first use."""

    def __init__(self, max_concurrent: int, max_waiting: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._gates: dict[str, ModelGate] = {}

    def slot(self, model_id: str) -> AbstractAsyncContextManager[None]:
        gate = self._gates.get(model_id)
        if gate is None:
            gate = self._gates[model_id] = ModelGate(self.max_concurrent, self.max_waiting)
        return gate.slot(model_id)
