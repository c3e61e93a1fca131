"""Task stores (SQLite file, real Redis server) and the background runner."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.errors import InvalidImage, Unavailable
from gateway.jobs import ORPHANED, JobStore
from gateway.jobs.redis import RedisJobStore
from gateway.jobs.runner import SHUT_DOWN, JobRunner
from gateway.jobs.sqlite import SqliteJobStore
from tests.conftest import free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on 127.0.0.1, for this test session only."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: scripts/test installs it with apt")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


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
    first, second = store.create("w1"), store.create("w1")
    assert second.id > first.id
    assert first.status == "pending"
    assert other.get(first.id).status == "pending"  # another process sees it
    store.finish(first.id, {"outputs": [1, 2]})
    store.fail(second.id, "bad image")
    store.finish(second.id, {"late": True})  # an ended task stays as it ended
    done, failed = other.get(first.id), other.get(second.id)
    assert (done.status, done.data, done.error) == ("success", {"outputs": [1, 2]}, None)
    assert (failed.status, failed.data, failed.error) == ("error", None, "bad image")
    assert done.date_created.endswith("Z")
    assert done.date_updated >= done.date_created
    assert other.get(999_999) is None


def test_orphaned_tasks_become_errors(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(worker_timeout=1)
    store.heartbeat("alive")
    kept = store.create("alive")
    orphan = store.create("never-heartbeated")
    assert store.get(kept.id).status == "pending"
    ended = store.get(orphan.id)
    assert (ended.status, ended.error) == ("error", ORPHANED)
    time.sleep(1.2)  # the live worker stops heartbeating
    assert store.get(kept.id).status == "error"


def test_finished_tasks_expire(make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(ttl=1)
    store.heartbeat("w")
    job = store.create("w")
    store.finish(job.id, {"x": 1})
    assert store.get(job.id) is not None
    time.sleep(1.3)
    store.create("w")  # the SQLite store purges as it goes
    assert store.get(job.id) is None


def test_sqlite_tasks_survive_a_restart(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "t.sqlite3")
    store.heartbeat("w")
    job = store.create("w")
    store.finish(job.id, [1])
    store.close()
    reopened = SqliteJobStore(tmp_path / "t.sqlite3")
    assert reopened.get(job.id).data == [1]
    reopened.close()


def test_redis_outage_is_unavailable() -> None:
    store = RedisJobStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(Unavailable, match="task store \\(Redis\\) is unavailable") as error:
        store.create("w")
    assert error.value.retry_after == 5


async def test_runner_records_results_errors_and_shutdown(tmp_path: Path) -> None:
    runner = JobRunner(SqliteJobStore(tmp_path / "t.sqlite3"), heartbeat_every=0.05)
    await runner.start()

    async def works() -> dict[str, int]:
        return {"answer": 42}

    async def fails() -> None:
        raise InvalidImage("Could not load input image")

    async def hangs() -> None:
        await asyncio.sleep(60)

    ok, bad, slow = [await runner.submit(f) for f in (works, fails, hangs)]
    await asyncio.sleep(0.1)
    assert (await runner.get(ok.id)).data == {"answer": 42}
    assert (await runner.get(bad.id)).error == "Could not load input image"
    assert (await runner.get(slow.id)).status == "pending"
    await runner.stop(grace=0.1)
    reopened = SqliteJobStore(tmp_path / "t.sqlite3")
    ended = reopened.get(slow.id)
    assert (ended.status, ended.error) == ("error", SHUT_DOWN)
    reopened.close()
