"""Asynchronous tasks: a store shared by every worker process, and the runner that fills it.

A task is created `pending` by the process that will run it (its owner), for the API
key that submitted it (its client: only that key can read it), and ends as
`success` with a JSON result or `error` with a message. Every process heartbeats; a
pending task whose owner has stopped heartbeating is turned into an `error` when it is
read, so no task stays pending forever. Finished tasks are kept for `ttl` seconds.

Stores: SQLite (embedded default: a file, so tasks survive restarts and are shared by
the processes of one machine) and Redis (GATEWAY_REDIS_URL: shared across machines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Status = Literal["pending", "success", "error"]
ORPHANED = "the worker running this task stopped before finishing it"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Job:
    id: int
    status: Status
    date_created: str
    date_updated: str
    owner: str
    data: Any = None
    error: str | None = None
    client: str = ""  # name of the API key that submitted it


class JobStore(Protocol):
    """Where tasks live; every method is blocking (call it from a worker thread)."""

    def create(self, owner: str, client: str = "") -> Job: ...

    def finish(self, job_id: int, data: Any) -> None: ...

    def fail(self, job_id: int, error: str) -> None: ...

    def get(self, job_id: int) -> Job | None:
        """The task, with an orphaned pending task already turned into an error."""
        ...

    def heartbeat(self, owner: str) -> None: ...

    def close(self) -> None: ...
