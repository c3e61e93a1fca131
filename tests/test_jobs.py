"""Task stores (SQLite file, real Redis server) and the background runner."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from gateway.errors import InvalidImage, Unavailable
from gateway.jobs import ABANDONED, JobStore
from gateway.jobs.redis import RedisJobStore
from gateway.jobs.runner import JobRunner
from gateway.jobs.sqlite import SqliteJobStore
from tests.conftest import free_port


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A factory of stores sharing one backing database (as several processes would)."""
    opened: list[JobStore] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()

    def make(ttl: float = 60.0, worker_timeout: float = 30.0) -> JobStore:
        store: JobStore
        if request.param == "redis":
            store = RedisJobStore(url, ttl, worker_timeout)
        else:
            store = SqliteJobStore(tmp_path / "tasks.sqlite3", ttl, worker_timeout)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_lifecycle_and_sharing(make_store) -> None:  # type: ignore[no-untyped-def]
    store, other = make_store(), make_store()
    store.heartbeat("w1")
    first, second = store.create("k", b"one"), store.create("k", b"two", client="app")
    assert second.id > first.id
    assert (first.status, second.client) == ("pending", "app")
    assert other.get(first.id).status == "pending"  # another process sees it
    assert store.queued() == 2
    claim = other.claim("w2")  # the oldest first, whoever claims it
    assert (claim.id, claim.kind, claim.payload) == (first.id, "k", b"one")
    assert store.get(first.id).owner == "w2"
    assert store.queued() == 1
    store.finish(first.id, {"outputs": [1, 2]})
    store.fail(second.id, "bad image")
    store.finish(second.id, {"late": True})  # an ended task stays as it ended
    done, failed = other.get(first.id), other.get(second.id)
    assert (done.status, done.data, done.error) == ("success", {"outputs": [1, 2]}, None)
    assert (failed.status, failed.data, failed.error) == ("error", None, "bad image")
    assert done.date_created.endswith("Z")
    assert done.date_updated >= done.date_created
    assert other.get(999_999) is None
    assert store.claim("w1") is None  # nothing left: an ended task is never claimed
    assert store.queued() == 0


def test_each_task_is_claimed_once(make_store) -> None:  # type: ignore[no-untyped-def]
    stores = [make_store() for _ in range(4)]
    created = {stores[0].create("k", str(n).encode()).id for n in range(40)}

    def drain(store: JobStore, owner: str) -> list[int]:
        claimed = []
        while (claim := store.claim(owner)) is not None:
            claimed.append(claim.id)
        return claimed

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(drain, stores, ["a", "b", "c", "d"]))
    everything = [job_id for run in runs for job_id in run]
    assert sorted(everything) == sorted(created)  # all claimed, none twice


def test_released_tasks_go_back_to_the_head(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store()
    first, second = store.create("k", b"1"), store.create("k", b"2")
    assert store.claim("w").id == first.id
    store.release(first.id)
    assert store.get(first.id).owner == ""
    assert store.claim("w").id == first.id  # before the newer task
    assert store.claim("w").id == second.id


def test_a_dead_workers_tasks_are_queued_again(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(worker_timeout=1)
    store.heartbeat("alive")
    store.heartbeat("dies")
    kept, lost = store.create("k", b"kept"), store.create("k", b"lost")
    assert store.claim("alive").id == kept.id
    assert store.claim("dies").id == lost.id
    assert store.recover() == 0  # both heartbeated within the timeout
    time.sleep(0.6)
    store.heartbeat("alive")
    time.sleep(0.6)  # "dies" has now been silent for over a second
    assert store.recover() == 1
    again = store.claim("alive")
    assert (again.id, again.payload) == (lost.id, b"lost")  # the payload came back too
    assert store.get(kept.id).owner == "alive"  # a live worker keeps its task


def test_a_task_that_keeps_killing_workers_ends(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(worker_timeout=1)
    job = store.create("k", b"poison")
    for attempt in range(3):
        owner = f"w{attempt}"
        store.heartbeat(owner)
        assert store.claim(owner).id == job.id
        time.sleep(1.1)  # the owner never beats again
        store.recover()
    ended = store.get(job.id)
    assert (ended.status, ended.error) == ("error", ABANDONED)
    assert store.claim("w9") is None


def test_finished_tasks_expire(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(ttl=1)
    job = store.create("k", b"")
    store.claim("w")
    store.finish(job.id, {"x": 1})
    assert store.get(job.id) is not None
    time.sleep(1.3)
    store.create("k", b"")  # the SQLite store purges as it goes
    assert store.get(job.id) is None


def test_sqlite_tasks_survive_a_restart(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "t.sqlite3")
    done, queued = store.create("k", b"a"), store.create("k", b"b")
    store.claim("w")
    store.finish(done.id, [1])
    store.close()
    reopened = SqliteJobStore(tmp_path / "t.sqlite3")
    assert reopened.get(done.id).data == [1]
    assert reopened.claim("w2").payload == b"b"
    assert reopened.get(queued.id).status == "pending"
    reopened.close()


def test_a_task_file_from_before_the_queue_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, "
            "owner TEXT NOT NULL, data TEXT, error TEXT, date_created TEXT NOT NULL, "
            "date_updated TEXT NOT NULL, updated REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO tasks (status, owner, data, date_created, date_updated, updated) "
            "VALUES ('success', 'old', '[7]', 'x', 'x', ?)",
            (time.time(),),
        )
    store = SqliteJobStore(path)
    assert store.get(1).data == [7]
    assert store.create("k", b"new").id == 2
    store.close()


def test_redis_outage_is_unavailable() -> None:
    store = RedisJobStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(Unavailable, match="task store \\(Redis\\) is unavailable") as error:
        store.create("k", b"")
    assert error.value.retry_after == 5


async def test_runner_records_results_errors_and_shutdown(tmp_path: Path) -> None:
    async def works(payload: bytes) -> dict[str, str]:
        return {"echo": payload.decode()}

    async def fails(payload: bytes) -> None:
        raise InvalidImage("Could not load input image")

    async def hangs(payload: bytes) -> None:
        await asyncio.sleep(60)

    handlers = {"works": works, "fails": fails, "hangs": hangs}
    runner = JobRunner(SqliteJobStore(tmp_path / "t.sqlite3"), handlers, heartbeat_every=0.05)
    await runner.start()
    ok, bad, slow = [await runner.submit(kind, b"hi") for kind in ("works", "fails", "hangs")]
    for _ in range(200):
        if (await runner.get(bad.id)).status != "pending" and (await runner.get(slow.id)).owner:
            break
        await asyncio.sleep(0.02)
    assert (await runner.get(ok.id)).data == {"echo": "hi"}
    assert (await runner.get(bad.id)).error == "Could not load input image"
    assert (await runner.get(slow.id)).owner == runner.owner
    await runner.stop(grace=0.1)
    reopened = SqliteJobStore(tmp_path / "t.sqlite3")
    cut = reopened.get(slow.id)
    assert (cut.status, cut.owner) == ("pending", "")  # back in the queue, not lost
    assert reopened.claim("next").payload == b"hi"
    reopened.close()


async def test_a_busy_gateway_puts_the_task_back(tmp_path: Path) -> None:
    calls = []

    async def busy_once(payload: bytes) -> str:
        calls.append(payload)
        if len(calls) == 1:
            raise Unavailable("busy", retry_after=0)
        return "done"

    store = SqliteJobStore(tmp_path / "t.sqlite3")
    runner = JobRunner(store, {"k": busy_once}, poll_every=0.02)
    await runner.start()
    job = await runner.submit("k", b"x")
    for _ in range(200):
        if (await runner.get(job.id)).status != "pending":
            break
        await asyncio.sleep(0.02)
    await runner.stop()
    assert calls == [b"x", b"x"]
    reopened = SqliteJobStore(tmp_path / "t.sqlite3")
    assert reopened.get(job.id).data == "done"
    reopened.close()


async def test_the_queue_limit_answers_503(tmp_path: Path) -> None:
    async def never(payload: bytes) -> None:
        await asyncio.sleep(60)

    runner = JobRunner(SqliteJobStore(tmp_path / "t.sqlite3"), {"k": never}, max_queued=1)
    # Not started: nothing claims, so the first task stays queued.
    await runner.submit("k", b"")
    with pytest.raises(Unavailable, match="1 tasks are already waiting") as error:
        await runner.submit("k", b"")
    assert error.value.retry_after == 2
    runner.store.close()
