"""Per-key limits: requests per second (with a burst) and requests at once.

The counters live where the tasks live, so that every replica sees them: a SQLite file
on one machine, Redis across machines. The request rate is a GCRA (generic cell rate
algorithm): a key has a "theoretical arrival time" that each admitted request pushes
one emission interval (1/rate) later, and a request is refused while that time is more
than `burst` intervals ahead of now. Requests at once are leases that expire on their
own, so a replica that dies holding some does not block the key for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Refusal = Literal["rate", "concurrency"]


@dataclass(frozen=True)
class Limits:
    rate: float = 0.0  # requests per second; 0: no limit
    burst: int = 0  # requests admitted at once above the rate; 0: max(1, rate)
    concurrency: int = 0  # requests at once; 0: no limit

    @property
    def active(self) -> bool:
        return self.rate > 0 or self.concurrency > 0

    @property
    def interval(self) -> float:
        """Seconds between requests at the sustained rate (0: no rate limit)."""
        return 1.0 / self.rate if self.rate > 0 else 0.0

    @property
    def capacity(self) -> int:
        return self.burst or max(1, int(self.rate))


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    refusal: Refusal | None = None
    retry_after: float = 0.0  # seconds until a request would be admitted


ADMITTED = Verdict(True)


class LimitStore(Protocol):
    """Counters shared by every replica; blocking calls (run them in a worker thread)."""

    def acquire(self, name: str, limits: Limits, lease: str, lease_seconds: float) -> Verdict:
        """Admit one request of key `name` (holding `lease` until released or expired)
        or say why not; nothing is counted for a refused request."""
        ...

    def release(self, name: str, lease: str) -> None: ...

    def close(self) -> None: ...
