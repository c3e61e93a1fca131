"""Asynchronous tasks: a durable queue shared by every replica, and the runner that works it.

A task is created `pending` and queued, with a `kind` and a `payload` (the bytes its
handler needs to run it anywhere), for the API key that submitted it (its client: only
that key can read it). Any process with a runner claims queued tasks (the claimer is
the task's owner while it runs) and ends each as `success` with a JSON result or
`error` with a message; the payload is dropped then. Every process heartbeats: the
tasks claimed by a process that stopped heartbeating (killed, crashed) go back to the
queue for another one, up to MAX_ATTEMPTS claims, after which they end as errors. A
process shutting down puts the tasks it could not finish back too. So an accepted task
is never lost while the store keeps it; finished tasks are kept for `ttl` seconds.

Stores: SQLite (embedded default: a file, so tasks survive restarts and are shared by
the processes of one machine) and Redis (GATEWAY_REDIS_URL: shared across machines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Status = Literal["pending", "success", "error"]
MAX_ATTEMPTS = 3
ABANDONED = "the task was started 3 times and each time its worker stopped before finishing it"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Job:
    id: int
    status: Status
    date_created: str
    date_updated: str
    owner: str = ""  # the process running it; empty while queued or ended
    data: Any = None
    error: str | None = None
    client: str = ""  # name of the API key that submitted it


@dataclass(frozen=True)
class Claim:
    """A queued task, now this process's to run."""

    id: int
    kind: str
    payload: bytes


class JobStore(Protocol):
    """Where tasks live; every method is blocking (call it from a worker thread)."""

    def create(self, kind: str, payload: bytes, client: str = "") -> Job:
        """A new pending task, queued behind the others."""
        ...

    def queued(self) -> int:
        """How many tasks wait to be claimed."""
        ...

    def claim(self, owner: str) -> Claim | None:
        """The oldest queued task, now owned by `owner`; None when the queue is empty."""
        ...

    def finish(self, job_id: int, data: Any) -> None: ...

    def fail(self, job_id: int, error: str) -> None: ...

    def release(self, job_id: int) -> None:
        """Put a claimed, unfinished task back at the head of the queue."""
        ...

    def recover(self, max_attempts: int = MAX_ATTEMPTS) -> int:
        """Re-queue the tasks of owners that stopped heartbeating (or end them as errors
        after `max_attempts` claims); how many went back to the queue."""
        ...

    def get(self, job_id: int) -> Job | None: ...

    def heartbeat(self, owner: str) -> None: ...

    def close(self) -> None: ...
