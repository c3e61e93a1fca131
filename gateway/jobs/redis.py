"""The task store across machines: Redis (GATEWAY_REDIS_URL)."""

from __future__ import annotations

import json
from typing import Any

import redis

from gateway.errors import Unavailable
from gateway.jobs import ORPHANED, Job, now_iso

PREFIX = "gw:"
# Ends a task only while it is still pending (a late worker cannot overwrite an error).
END_IF_PENDING = """
if redis.call('HGET', KEYS[1], 'status') == 'pending' then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'data', ARGV[2], 'error', ARGV[3],
             'date_updated', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
"""


class RedisJobStore:
    """Tasks as Redis hashes with a TTL; workers as keys that expire without heartbeats."""

    def __init__(self, url: str, ttl: float = 86400.0, worker_timeout: float = 30.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._end_script = self._redis.register_script(END_IF_PENDING)
        self.ttl = int(ttl)
        self.worker_timeout = int(worker_timeout)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise Unavailable(
                f"the task store (Redis) is unavailable: {exc}", retry_after=5
            ) from exc

    def create(self, owner: str, client: str = "") -> Job:
        job_id = int(self._call(self._redis.incr, f"{PREFIX}task:next"))
        stamp = now_iso()
        key = f"{PREFIX}task:{job_id}"
        fields: dict[str | bytes, str | bytes] = {
            "status": "pending",
            "owner": owner,
            "client": client,
            "date_created": stamp,
            "date_updated": stamp,
        }
        pipe = self._redis.pipeline()
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, self.ttl)
        self._call(pipe.execute)
        return Job(job_id, "pending", stamp, stamp, owner, client=client)

    def _end(self, job_id: int, status: str, data: Any, error: str | None) -> None:
        args = [status, json.dumps(data), error or "", now_iso(), self.ttl]
        self._call(self._end_script, [f"{PREFIX}task:{job_id}"], args)

    def finish(self, job_id: int, data: Any) -> None:
        self._end(job_id, "success", data, None)

    def fail(self, job_id: int, error: str) -> None:
        self._end(job_id, "error", None, error)

    def heartbeat(self, owner: str) -> None:
        self._call(self._redis.set, f"{PREFIX}worker:{owner}", "1", self.worker_timeout)

    def get(self, job_id: int) -> Job | None:
        raw = self._call(self._redis.hgetall, f"{PREFIX}task:{job_id}")
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        job = Job(
            job_id,
            fields["status"],
            fields["date_created"],
            fields["date_updated"],
            fields["owner"],
            json.loads(fields.get("data") or "null"),
            fields.get("error") or None,
            fields.get("client", ""),
        )
        if job.status == "pending" and not self._call(
            self._redis.exists, f"{PREFIX}worker:{job.owner}"
        ):
            self.fail(job_id, ORPHANED)
            return self.get(job_id)
        return job

    def close(self) -> None:
        self._redis.close()
