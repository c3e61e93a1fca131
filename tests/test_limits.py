"""Per-key limits: the stores (SQLite file, real Redis server) and 429 over HTTP."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from gateway.auth import key_hash
from gateway.limits import Limits, LimitStore
from gateway.limits.redis import RedisLimitStore
from gateway.limits.sqlite import SqliteLimitStore
from tests.conftest import TEST_KEY, free_port, serving, settings_for
from tests.imageserver import serve_images

MakeStore = Callable[[], LimitStore]


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Stores sharing one backing database, as two replicas would."""
    opened: list[LimitStore] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()

    def make() -> LimitStore:
        store: LimitStore
        if request.param == "redis":
            store = RedisLimitStore(url)
        else:
            store = SqliteLimitStore(tmp_path / "limits.sqlite3")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_a_burst_then_the_rate(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    limits = Limits(rate=5, burst=2)
    verdicts = [
        store.acquire("app", limits, f"l{i}", 10) for i, store in enumerate([one, two, one])
    ]
    assert [v.admitted for v in verdicts] == [True, True, False]  # counted across replicas
    refused = verdicts[2]
    assert refused.refusal == "rate"
    assert 0.1 < refused.retry_after <= 0.2  # one interval (1/5 s) less the time elapsed
    assert one.acquire("other-app", limits, "x", 10).admitted  # keys count apart
    time.sleep(refused.retry_after + 0.02)
    assert two.acquire("app", limits, "l3", 10).admitted
    assert not one.acquire("app", limits, "l4", 10).admitted


def test_the_sustained_rate_holds(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    limits = Limits(rate=40, burst=5)
    admitted, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < 1.0:
        store = one if admitted % 2 else two
        admitted += store.acquire("app", limits, str(time.perf_counter()), 10).admitted
    # the burst at once, then one per 1/40 s: never more, and not far fewer
    assert admitted <= 5 + 40 * elapsed + 1
    assert admitted >= 40 * elapsed - 2


def test_requests_at_once(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    limits = Limits(concurrency=2)
    assert one.acquire("app", limits, "a", 10).admitted
    assert two.acquire("app", limits, "b", 10).admitted
    third = one.acquire("app", limits, "c", 10)
    assert (third.admitted, third.refusal) == (False, "concurrency")
    two.release("app", "b")
    assert one.acquire("app", limits, "c", 10).admitted
    # A lease its holder never gave back (a replica died) expires on its own.
    single = Limits(concurrency=1)
    assert one.acquire("lost", single, "held", 0.3).admitted
    assert not two.acquire("lost", single, "next", 0.3).admitted
    time.sleep(0.4)
    assert two.acquire("lost", single, "next", 0.3).admitted


def test_a_refused_request_is_not_counted(make_store: MakeStore) -> None:
    store = make_store()
    both = Limits(rate=100, burst=1, concurrency=1)
    assert store.acquire("app", both, "a", 10).admitted
    for _ in range(5):  # refused for concurrency: takes no rate token
        assert store.acquire("app", both, "b", 10).refusal == "concurrency"
    store.release("app", "a")
    time.sleep(0.02)
    assert store.acquire("app", both, "b", 10).admitted


def limited_keys(path: Path, **fields: object) -> Path:
    extra = "".join(f", {name}: {value}" for name, value in fields.items())
    path.write_text(
        "keys:\n"
        f"  - {{name: limited, key_hash: '{key_hash('limited-key')}'{extra}}}\n"
        f"  - {{name: free, key_hash: '{key_hash('free-key')}'}}\n"
    )
    return path


async def test_429_with_retry_after_in_each_dialects_shape(
    model_dir: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    keys = limited_keys(tmp_path / "keys.yaml", rate_limit=0.5, burst=1)
    settings = settings_for(model_dir, keys_path=keys, api_keys="", task_db=tmp_path / "t.db")
    async with serving(settings, "http://gw.test") as gw:
        first = await gw.post("/det/1?api_key=limited-key", content=base64.b64encode(jpeg_bytes))
        second = await gw.post("/det/1?api_key=limited-key", content=base64.b64encode(jpeg_bytes))
        listing = await gw.get("/v0.7/recognition/versions/", headers={"X-API-KEY": "limited-key"})
        free = [await gw.post("/det/1?api_key=free-key", content=jpeg_bytes) for _ in range(3)]
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "2"  # one request per 2 s
    assert (
        "API key 'limited' is over its rate limit of 0.5 requests per second"
        in (
            second.json()["message"]  # Roboflow's error shape
        )
    )
    assert listing.status_code == 429
    assert "over its rate limit" in listing.json()["detail"]  # Deepomatic's
    assert [r.status_code for r in free] == [200, 200, 200]  # a key without limits


async def test_the_default_limits_and_one_charge_per_request(
    model_dir: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    """GATEWAY_RATE_LIMIT applies to keys without their own; /infer checks the key twice
    (before and after reading the body) but is charged once."""
    keys = limited_keys(tmp_path / "keys.yaml")
    settings = settings_for(
        model_dir, keys_path=keys, api_keys="", task_db=tmp_path / "t.db", rate_limit=1
    )
    body = {
        "model_id": "det/1",
        "api_key": "free-key",
        "image": {"type": "base64", "value": base64.b64encode(jpeg_bytes).decode()},
    }
    async with serving(settings, "http://gw.test") as gw:
        once = await gw.post("/infer/object_detection?api_key=free-key", json=body)
        again = await gw.post("/infer/object_detection?api_key=free-key", json=body)
    assert once.status_code == 200, once.text
    assert again.status_code == 429
    assert again.headers["retry-after"] == "1"


async def test_requests_in_progress_per_key(
    model_dir: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    keys = limited_keys(tmp_path / "keys.yaml", concurrency_limit=1)
    settings = settings_for(model_dir, keys_path=keys, api_keys="", task_db=tmp_path / "t.db")
    with serve_images({"/a.jpg": jpeg_bytes}) as images:
        slow = quote(f"{images}/slow/1.0/a.jpg", safe="")
        async with serving(settings, "http://gw.test", timeout=30) as gw:
            held = asyncio.create_task(gw.get(f"/det/1?api_key=limited-key&image={slow}"))
            await asyncio.sleep(0.3)
            refused = await gw.post("/det/1?api_key=limited-key", content=jpeg_bytes)
            other = await gw.post("/det/1?api_key=free-key", content=jpeg_bytes)
            finished = await held
            after = await gw.post("/det/1?api_key=limited-key", content=jpeg_bytes)
            metrics = (await gw.get("/metrics")).text
    assert finished.status_code == 200
    assert refused.status_code == 429
    assert "already has 1 requests in progress" in refused.json()["message"]
    assert other.status_code == 200
    assert after.status_code == 200  # the lease was given back
    assert 'gateway_rejections_total{reason="concurrency"} 1.0' in metrics
    assert 'client="limited"' not in metrics  # key names stay out of the labels


async def test_a_redis_outage_spares_the_synchronous_routes(
    model_dir: Path, tmp_path: Path, jpeg_bytes: bytes
) -> None:
    """Limits configured, Redis down: inference still answers (the limits are not
    enforced meanwhile); the task routes, which cannot work without it, answer 503."""
    settings = settings_for(
        model_dir,
        task_db=tmp_path / "t.db",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit=1,
    )
    source = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode()
    task = {"inputs": [{"image": {"source": source}}]}
    async with serving(settings, "http://gw.test", timeout=30) as gw:
        inference = [
            await gw.post(f"/det/1?api_key={key}", content=jpeg_bytes)
            for key in (TEST_KEY, TEST_KEY)
        ]
        submitted = await gw.post(
            "/v0.7/recognition/versions/1/inference", json=task, headers={"X-API-KEY": TEST_KEY}
        )
    assert [r.status_code for r in inference] == [200, 200]
    assert submitted.status_code == 503
    assert "task store (Redis) is unavailable" in submitted.json()["detail"]
    assert submitted.headers["retry-after"] == "5"


def test_limits_in_the_keys_file_are_checked(tmp_path: Path) -> None:
    from gateway.auth import load_keys
    from gateway.errors import ConfigError

    keys = load_keys(limited_keys(tmp_path / "k.yaml", rate_limit=2.5, concurrency_limit=3))
    assert keys[0].limits == Limits(rate=2.5, concurrency=3)
    assert keys[1].limits is None
    for bad in ("rate_limit: -1", "concurrency_limit: 1.5", "burst: yes"):
        name, _, value = bad.partition(": ")
        with pytest.raises(ConfigError, match=f"field '{name}'"):
            load_keys(limited_keys(tmp_path / "bad.yaml", **{name: value}))
