"""Who is calling and whether they may go on now: the API key, then its limits.

Dialects call `await state.access.authorize(key, model_id)` (or `identify(key)` for
routes that concern no model) where they used to check the key alone. A request is
charged once per key, however many times its handler checks the key; the concurrency
lease it takes is given back when the handler's response is ready (`Access.request`,
entered by every dialect endpoint). When the limit store cannot be reached, requests
are let through (and the store is left alone for a few seconds): the synchronous
routes keep working through a Redis outage.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import anyio

from gateway.auth import ApiKey, KeyStore
from gateway.errors import TooManyRequests, Unavailable
from gateway.limits import Limits, LimitStore, Verdict

log = logging.getLogger(__name__)
OUTAGE_LOG_EVERY = 30.0  # seconds between warnings while the limit store is down
OUTAGE_BACKOFF = 5.0  # seconds the limit store is not asked again after a failure


@dataclass
class Charges:
    """The keys one request has been charged to, and the leases it holds."""

    keys: set[str] = field(default_factory=set)
    leases: dict[str, str] = field(default_factory=dict)  # key name -> lease


_charges: ContextVar[Charges | None] = ContextVar("gateway_request_charges", default=None)


class Access:
    def __init__(
        self,
        keys: KeyStore,
        store: LimitStore | None = None,
        defaults: Limits | None = None,
        lease_seconds: float = 65.0,
    ) -> None:
        self.keys = keys
        self.store = store
        self.defaults = defaults or Limits()
        self.lease_seconds = lease_seconds
        self._outage_logged = 0.0
        self._down_until = 0.0

    async def identify(self, presented: str | None) -> ApiKey:
        key = self.keys.identify(presented)
        await self._admit(key)
        return key

    async def authorize(self, presented: str | None, model_id: str) -> ApiKey:
        key = self.keys.authorize(presented, model_id)
        await self._admit(key)
        return key

    def limits_of(self, key: ApiKey) -> Limits:
        return key.limits or self.defaults

    async def _admit(self, key: ApiKey) -> None:
        limits = self.limits_of(key)
        charges = _charges.get()
        if self.store is None or not limits.active or charges is None or key.name in charges.keys:
            return
        if time.monotonic() < self._down_until:  # no request waits on a store that is down
            return
        lease = uuid.uuid4().hex
        try:
            verdict = await anyio.to_thread.run_sync(
                self.store.acquire, key.name, limits, lease, self.lease_seconds
            )
        except Unavailable as exc:
            self._log_outage(exc)
            return
        if not verdict.admitted:
            raise refusal(key, limits, verdict)
        charges.keys.add(key.name)
        if limits.concurrency > 0:
            charges.leases[key.name] = lease

    def _log_outage(self, exc: Unavailable) -> None:
        self._down_until = time.monotonic() + OUTAGE_BACKOFF
        if time.monotonic() - self._outage_logged > OUTAGE_LOG_EVERY:
            self._outage_logged = time.monotonic()
            log.warning("per-key limits are not enforced: %s", exc)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """The span of one request: the leases taken in it are given back at the end."""
        charges = Charges()
        token = _charges.set(charges)
        try:
            yield
        finally:
            _charges.reset(token)
            for name, lease in charges.leases.items():
                await self._release(name, lease)

    async def _release(self, name: str, lease: str) -> None:
        if self.store is None:
            return
        try:
            await anyio.to_thread.run_sync(self.store.release, name, lease)
        except Unavailable as exc:  # the lease expires on its own
            self._log_outage(exc)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def refusal(key: ApiKey, limits: Limits, verdict: Verdict) -> TooManyRequests:
    retry_after = max(1, math.ceil(verdict.retry_after))
    if verdict.refusal == "concurrency":
        message = (
            f"API key '{key.name}' already has {limits.concurrency} requests in progress, "
            "its limit; retry when one has finished"
        )
    else:
        message = (
            f"API key '{key.name}' is over its rate limit of {limits.rate:g} requests per "
            f"second (burst {limits.capacity}); retry in {retry_after} s"
        )
    return TooManyRequests(message, retry_after=retry_after, reason=verdict.refusal or "rate")
