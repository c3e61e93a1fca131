"""The task store across machines: Redis (GATEWAY_REDIS_URL).

Keys (prefix gw:): `task:{id}` a hash with a TTL; `task:{id}:payload` the handler's
input, dropped when the task ends; `queue` the queued ids (pushed left, claimed right);
`claimed:{owner}` the ids an owner is running; `worker:{owner}` a key that expires
unless the owner heartbeats; `owners` every owner that has claimed something. Each step
that touches several keys is one Lua script, so it is atomic however many replicas run.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import redis

from gateway.errors import Unavailable
from gateway.jobs import ABANDONED, MAX_ATTEMPTS, Claim, Job, now_iso

PREFIX = "gw:"
QUEUE = f"{PREFIX}queue"
OWNERS = f"{PREFIX}owners"

# KEYS: queue, claimed:{owner}, owners. ARGV: prefix, owner. -> {id, kind, payload} or nil
CLAIM = """
while true do
  local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not id then return nil end
  local task = ARGV[1] .. 'task:' .. id
  if redis.call('HGET', task, 'status') == 'pending' then
    redis.call('HSET', task, 'owner', ARGV[2])
    redis.call('HINCRBY', task, 'attempts', 1)
    redis.call('SADD', KEYS[3], ARGV[2])
    return {id, redis.call('HGET', task, 'kind'),
            redis.call('GET', task .. ':payload') or ''}
  end
  redis.call('LREM', KEYS[2], 0, id)  -- expired or already ended: skip it
end
"""
# KEYS: task. ARGV: prefix, id, status, data, error, stamp, ttl. Ends it only if pending.
END = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'data', ARGV[4], 'error', ARGV[5],
           'date_updated', ARGV[6], 'owner', '')
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('DEL', KEYS[1] .. ':payload')
if owner and owner ~= '' then
  redis.call('LREM', ARGV[1] .. 'claimed:' .. owner, 0, ARGV[2])
end
return 1
"""
# KEYS: task, queue. ARGV: prefix, id. Back to the head of the queue, not an attempt.
RELEASE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= '' then
  redis.call('LREM', ARGV[1] .. 'claimed:' .. owner, 0, ARGV[2])
end
if redis.call('HGET', KEYS[1], 'status') == 'pending' then
  redis.call('HSET', KEYS[1], 'owner', '')
  if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  end
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
"""
# KEYS: owners, queue. ARGV: prefix, max attempts, stamp, ttl, error.
# Every owner without a live heartbeat key gives its claimed tasks back.
RECOVER = """
local requeued = 0
for _, owner in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'worker:' .. owner) == 0 then
    local claimed = ARGV[1] .. 'claimed:' .. owner
    while true do
      local id = redis.call('RPOP', claimed)
      if not id then break end
      local task = ARGV[1] .. 'task:' .. id
      if redis.call('HGET', task, 'status') == 'pending' then
        if tonumber(redis.call('HGET', task, 'attempts') or '0') >= tonumber(ARGV[2]) then
          redis.call('HSET', task, 'status', 'error', 'error', ARGV[5], 'data', 'null',
                     'date_updated', ARGV[3], 'owner', '')
          redis.call('EXPIRE', task, ARGV[4])
          redis.call('DEL', task .. ':payload')
        else
          redis.call('HSET', task, 'owner', '')
          redis.call('RPUSH', KEYS[2], id)
          requeued = requeued + 1
        end
      end
    end
    redis.call('SREM', KEYS[1], owner)
  end
end
return requeued
"""


class RedisJobStore:
    """Tasks as Redis hashes with a TTL, a queue list, and per-owner claimed lists."""

    def __init__(self, url: str, ttl: float = 86400.0, worker_timeout: float = 30.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._claim = self._redis.register_script(CLAIM)
        self._end_script = self._redis.register_script(END)
        self._release = self._redis.register_script(RELEASE)
        self._recover = self._redis.register_script(RECOVER)
        self.ttl = int(ttl)
        self.worker_timeout_ms = int(worker_timeout * 1000)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise Unavailable(
                f"the task store (Redis) is unavailable: {exc}", retry_after=5, reason="store"
            ) from exc

    def create(self, kind: str, payload: bytes, client: str = "") -> Job:
        job_id = int(self._call(self._redis.incr, f"{PREFIX}task:next"))
        stamp = now_iso()
        key = f"{PREFIX}task:{job_id}"
        fields = {
            "status": "pending",
            "owner": "",
            "client": client,
            "kind": kind,
            "attempts": 0,
            "date_created": stamp,
            "date_updated": stamp,
        }
        pipe = self._redis.pipeline()  # MULTI/EXEC: the task is queued whole or not at all
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, self.ttl)
        pipe.set(f"{key}:payload", payload, ex=self.ttl)
        pipe.lpush(QUEUE, job_id)
        self._call(pipe.execute)
        return Job(job_id, "pending", stamp, stamp, client=client)

    def queued(self) -> int:
        return int(self._call(self._redis.llen, QUEUE))

    def claim(self, owner: str) -> Claim | None:
        keys = [QUEUE, f"{PREFIX}claimed:{owner}", OWNERS]
        found = self._call(self._claim, keys, [PREFIX, owner])
        if not found:
            return None
        job_id, kind, payload = found
        return Claim(int(job_id), (kind or b"").decode(), bytes(payload))

    def _end(self, job_id: int, status: str, data: Any, error: str | None) -> None:
        args = [PREFIX, job_id, status, json.dumps(data), error or "", now_iso(), self.ttl]
        self._call(self._end_script, [f"{PREFIX}task:{job_id}"], args)

    def finish(self, job_id: int, data: Any) -> None:
        self._end(job_id, "success", data, None)

    def fail(self, job_id: int, error: str) -> None:
        self._end(job_id, "error", None, error)

    def release(self, job_id: int) -> None:
        self._call(self._release, [f"{PREFIX}task:{job_id}", QUEUE], [PREFIX, job_id])

    def recover(self, max_attempts: int = MAX_ATTEMPTS) -> int:
        args = [PREFIX, max_attempts, now_iso(), self.ttl, ABANDONED]
        return int(self._call(self._recover, [OWNERS, QUEUE], args))

    def heartbeat(self, owner: str) -> None:
        key = f"{PREFIX}worker:{owner}"
        self._call(partial(self._redis.set, key, "1", px=self.worker_timeout_ms))

    def get(self, job_id: int) -> Job | None:
        raw = self._call(self._redis.hgetall, f"{PREFIX}task:{job_id}")
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return Job(
            job_id,
            fields["status"],
            fields["date_created"],
            fields["date_updated"],
            fields.get("owner", ""),
            json.loads(fields.get("data") or "null"),
            fields.get("error") or None,
            fields.get("client", ""),
        )

    def close(self) -> None:
        self._redis.close()
