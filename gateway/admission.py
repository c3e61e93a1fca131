"""Admission: bounded work everywhere, so that overload is a quick 503, never a long queue.

Two bounds: the process handles at most `max_inflight` requests at once (all routes:
fetching, reading bodies and waiting included), and each model runs at most
`max_concurrent` predictions with up to `max_waiting` more waiting for a slot. Anything
beyond is refused at once with Unavailable, which dialects answer with 503 and
Retry-After, so clients back off and retry (inference-sdk retries 503 and 429) while
the requests already admitted keep a bounded latency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager

import anyio

from gateway.errors import Unavailable


class Inflight:
    """Requests being handled by this process, refused beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    @property
    def saturated(self) -> bool:
        return self.count >= self.limit

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.saturated:
            raise Unavailable(
                f"the gateway is handling {self.count} requests; retry shortly", reason="inflight"
            )
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


class ModelGate:
    def __init__(self, max_concurrent: int, max_waiting: int) -> None:
        self._slots = anyio.Semaphore(max_concurrent)
        self._max_waiting = max_waiting
        self.waiting = 0

    @property
    def saturated(self) -> bool:
        return self._slots.value == 0 and self.waiting >= self._max_waiting

    @asynccontextmanager
    async def slot(self, model_id: str) -> AsyncIterator[None]:
        if self.saturated:
            raise Unavailable(
                f"model '{model_id}' is at capacity; retry shortly", retry_after=1, reason="queue"
            )
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

    def saturated(self) -> list[str]:
        """The models whose queue is full (their requests get 503 now)."""
        return sorted(model_id for model_id, gate in self._gates.items() if gate.saturated)
