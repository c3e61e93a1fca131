"""Dynamic batching: images for one model that wait together run together.

Each model has a queue and `runs` runner tasks. A free runner takes the oldest
queued image and the other queued images with the same head inputs (thresholds and
class filter are graph inputs, so one run takes one set), up to the model's
`max_batch`, and runs them as one batch in a worker thread. While the runners are
busy new images queue up, so batches grow with the load by themselves and a client
alone never waits for company. `batch_wait` optionally holds a free runner, from
the moment the oldest image arrived, until the batch is full or the wait is over.

Only prepared network inputs queue here. How many requests may hold a place for a
model is bounded before they get here (admission.py), so the queue is bounded too.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import numpy as np

from gateway.model import Outputs, stack


class Runnable(Protocol):
    """What a Batcher needs from a model (gateway.model.Model)."""

    max_batch: int
    batch_wait: float

    def run(self, batch: np.ndarray, feeds: Mapping[str, np.ndarray]) -> Outputs: ...


class BatchObserver(Protocol):
    """What a Batcher reports as it runs (gateway.metrics.ModelMetrics)."""

    def batch_ran(self, size: int) -> None: ...

    def queue_depth(self, depth: int) -> None: ...


@dataclass(frozen=True)
class Ran:
    """One image's share of a session run."""

    outputs: Outputs  # the whole batch's outputs
    index: int  # the image's place in the batch
    size: int  # images in the batch
    queued: float  # seconds from submission to the start of the run
    seconds: float  # the session run


@dataclass(eq=False)
class _Waiting:
    tensor: np.ndarray
    feeds: Mapping[str, np.ndarray]
    key: bytes
    arrived: float
    future: asyncio.Future[Ran] = field(repr=False)


def feeds_key(feeds: Mapping[str, np.ndarray]) -> bytes:
    """Equal keys for equal head inputs: the images that may share a run."""
    return b"\0".join(name.encode() + b"=" + value.tobytes() for name, value in feeds.items())


class Batcher:
    """The queue and runners of one model."""

    def __init__(self, model: Runnable, runs: int, observer: BatchObserver | None = None) -> None:
        self.model = model
        self.runs = runs
        self.observer = observer
        self.batch_sizes: Counter[int] = Counter()  # runs per batch size
        self._queue: deque[_Waiting] = deque()
        self._arrival = asyncio.Event()
        self._runners: list[asyncio.Task[None]] = []
        self._limiter = anyio.CapacityLimiter(runs)

    @property
    def depth(self) -> int:
        """Images waiting for a run."""
        return len(self._queue)

    async def submit(self, tensor: np.ndarray, feeds: Mapping[str, np.ndarray]) -> Ran:
        """Queue one prepared image (a batch of one) and wait for its run."""
        if not self._runners:
            self._runners = [asyncio.create_task(self._runner()) for _ in range(self.runs)]
        future: asyncio.Future[Ran] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(tensor, feeds, feeds_key(feeds), time.perf_counter(), future))
        self._report_depth()
        self._arrival.set()
        # Cancelled (the client went away, a deadline passed): the runner skips it.
        return await future

    async def aclose(self) -> None:
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        self._runners = []
        while self._queue:
            self._queue.popleft().future.cancel()
        self._report_depth()

    def _report_depth(self) -> None:
        if self.observer is not None:
            self.observer.queue_depth(len(self._queue))

    async def _runner(self) -> None:
        while True:
            batch = await self._next_batch()
            started = time.perf_counter()
            try:
                outputs = await anyio.to_thread.run_sync(
                    self.model.run, stack([w.tensor for w in batch]), batch[0].feeds,
                    limiter=self._limiter,
                )  # fmt: skip
            except Exception as exc:  # the model failed: every image of the batch did
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            except BaseException:  # closing: nobody will answer them
                for waiting in batch:
                    waiting.future.cancel()
                raise
            seconds = time.perf_counter() - started
            self.batch_sizes[len(batch)] += 1
            if self.observer is not None:
                self.observer.batch_ran(len(batch))
            for index, waiting in enumerate(batch):
                if not waiting.future.done():
                    ran = Ran(outputs, index, len(batch), started - waiting.arrived, seconds)
                    waiting.future.set_result(ran)

    async def _next_batch(self) -> list[_Waiting]:
        while True:
            while self._queue and self._queue[0].future.done():
                self._queue.popleft()  # cancelled while queued
            if not self._queue:
                self._report_depth()  # it may have held only cancelled images
                self._arrival.clear()
                await self._arrival.wait()
                continue
            oldest = self._queue[0]
            deadline = oldest.arrived + self.model.batch_wait
            while self._companions(oldest.key) < self.model.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._arrival.clear()
                with anyio.move_on_after(remaining):
                    await self._arrival.wait()
            batch = self._take(oldest.key)
            self._report_depth()
            if batch:  # else every one of them was cancelled during the wait
                return batch

    def _companions(self, key: bytes) -> int:
        return sum(1 for w in self._queue if w.key == key and not w.future.done())

    def _take(self, key: bytes) -> list[_Waiting]:
        """Up to max_batch live images with this key, oldest first, off the queue."""
        batch: list[_Waiting] = []
        rest: deque[_Waiting] = deque()
        for waiting in self._queue:
            if waiting.future.done():
                continue
            if waiting.key == key and len(batch) < self.model.max_batch:
                batch.append(waiting)
            else:
                rest.append(waiting)
        self._queue = rest
        return batch
