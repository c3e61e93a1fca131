"""Per-key limits in Redis: every replica, on any machine, counts against the same keys.

One Lua script decides and records a request atomically, on Redis's own clock (TIME),
so replicas whose clocks differ still agree. Times are integer microseconds.
"""

from __future__ import annotations

import redis

from gateway.errors import Unavailable
from gateway.limits import ADMITTED, Limits, Verdict

PREFIX = "gw:limit:"
# KEYS: rate key, leases key. ARGV: interval_us, capacity, concurrency, lease, lease_us.
# -> {1} admitted, or {0, reason, retry_after_us}
ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local concurrency, lease_us = tonumber(ARGV[3]), tonumber(ARGV[5])
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= concurrency then return {0, 'concurrency', 1000000} end
end
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  tat = tat + interval
  local allowed_at = tat - capacity * interval
  if now < allowed_at then return {0, 'rate', allowed_at - now} end
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',
             math.floor((tat - now) / 1000) + 1)
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[2], string.format('%.0f', now + lease_us), ARGV[4])
  redis.call('PEXPIRE', KEYS[2], math.floor(lease_us / 1000) + 1)
end
return {1}
"""


class RedisLimitStore:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._acquire = self._redis.register_script(ACQUIRE)

    def acquire(self, name: str, limits: Limits, lease: str, lease_seconds: float) -> Verdict:
        keys = [f"{PREFIX}rate:{name}", f"{PREFIX}leases:{name}"]
        args: list[str | int] = [
            round(limits.interval * 1e6),
            limits.capacity,
            limits.concurrency,
            lease,
            round(lease_seconds * 1e6),
        ]
        try:
            answer = self._acquire(keys, args)
        except redis.RedisError as exc:
            raise Unavailable(f"the limit store (Redis) is unavailable: {exc}") from exc
        if answer[0] == 1:
            return ADMITTED
        return Verdict(False, answer[1].decode(), int(answer[2]) / 1e6)

    def release(self, name: str, lease: str) -> None:
        try:
            self._redis.zrem(f"{PREFIX}leases:{name}", lease)
        except redis.RedisError as exc:
            raise Unavailable(f"the limit store (Redis) is unavailable: {exc}") from exc

    def close(self) -> None:
        self._redis.close()
