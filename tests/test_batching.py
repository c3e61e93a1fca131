"""Dynamic batching: the Batcher's queue rules, and batched runs of real models giving
exactly the results of one-image runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from gateway.batching import Batcher, feeds_key
from gateway.model import Model, Outputs
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams
from gateway.pipeline import Pipeline
from gateway.registry import ModelRegistry
from gateway.results import Detections, SemanticMask
from gateway.settings import Settings
from tests.conftest import DEMO_KEY, serving
from tests.layouts import make_model, save, ultralytics_metadata, write_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "models" / "examples"
SCENES = [cv2.imread(str(EXAMPLES / f"scene-{i}.jpg")) for i in (1, 2, 3)]


class Recorder:
    """A fake model: returns each batch doubled, records batch sizes, and can hold a run."""

    def __init__(self, max_batch: int = 8, batch_wait: float = 0.0) -> None:
        self.max_batch = max_batch
        self.batch_wait = batch_wait
        self.sizes: list[int] = []
        self.feeds: list[float] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def run(self, batch: np.ndarray, feeds: Mapping[str, np.ndarray]) -> Outputs:
        self.entered.set()
        self.gate.wait(5)
        self.sizes.append(len(batch))
        self.feeds.append(float(feeds["t"][0]))
        if self.fail:
            raise RuntimeError("the device fell over")
        return {"y": batch * 2}


def one(value: float) -> np.ndarray:
    return np.full((1, 3), value, np.float32)


def feeds(threshold: float = 0.5) -> dict[str, np.ndarray]:
    return {"t": np.array([threshold], np.float32)}


async def held(recorder: Recorder, batcher: Batcher) -> asyncio.Task[object]:
    """Start one submission and wait until its run holds the runner."""
    recorder.gate.clear()
    recorder.entered.clear()
    first = asyncio.create_task(batcher.submit(one(-1), feeds()))
    while not recorder.entered.is_set():
        await asyncio.sleep(0.001)
    return first


async def test_images_queued_while_the_runner_is_busy_share_one_run() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    first = await held(recorder, batcher)
    rest = [asyncio.create_task(batcher.submit(one(i), feeds())) for i in range(6)]
    await asyncio.sleep(0.01)
    assert batcher.depth == 6
    recorder.gate.set()
    results = await asyncio.gather(*rest)
    await first
    assert recorder.sizes == [1, 6]
    for i, ran in enumerate(results):
        assert ran.size == 6
        assert ran.index == i  # oldest first
        np.testing.assert_array_equal(ran.outputs["y"][ran.index], np.full(3, 2.0 * i))
    assert batcher.batch_sizes == {1: 1, 6: 1}
    await batcher.aclose()


async def test_a_run_takes_at_most_max_batch_images() -> None:
    recorder = Recorder(max_batch=4)
    batcher = Batcher(recorder, runs=1)
    first = await held(recorder, batcher)
    rest = [asyncio.create_task(batcher.submit(one(i), feeds())) for i in range(10)]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    results = await asyncio.gather(first, *rest)
    assert recorder.sizes == [1, 4, 4, 2]
    assert [r.outputs["y"][r.index][0] for r in results[1:]] == [2.0 * i for i in range(10)]
    await batcher.aclose()


async def test_images_with_other_head_inputs_run_apart_in_arrival_order() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    first = await held(recorder, batcher)
    thresholds = [0.5, 0.25, 0.5, 0.25, 0.75]
    rest = [asyncio.create_task(batcher.submit(one(i), feeds(t))) for i, t in enumerate(thresholds)]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    results = await asyncio.gather(first, *rest)
    assert recorder.sizes == [1, 2, 2, 1]
    assert recorder.feeds == [0.5, 0.5, 0.25, 0.75]
    for i, ran in enumerate(results[1:]):
        assert ran.outputs["y"][ran.index][0] == 2.0 * i
    await batcher.aclose()


async def test_batch_wait_holds_a_free_runner_for_a_fuller_batch() -> None:
    recorder = Recorder(max_batch=3, batch_wait=0.5)
    batcher = Batcher(recorder, runs=1)
    started = time.perf_counter()
    tasks = []
    for i in range(3):
        tasks.append(asyncio.create_task(batcher.submit(one(i), feeds())))
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    # Full before the wait was over: it ran then, as one batch.
    assert recorder.sizes == [3]
    assert time.perf_counter() - started < 0.4
    # Alone, an image waits the whole batch_wait and runs by itself.
    started = time.perf_counter()
    ran = await batcher.submit(one(7), feeds())
    assert ran.size == 1
    assert 0.45 < ran.queued < 1.0
    await batcher.aclose()


async def test_without_batch_wait_a_lone_image_runs_at_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    ran = await batcher.submit(one(1), feeds())
    assert ran.size == 1
    assert ran.queued < 0.05
    await batcher.aclose()


async def test_a_cancelled_image_is_skipped_and_the_rest_still_run() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    first = await held(recorder, batcher)
    gone = asyncio.create_task(batcher.submit(one(1), feeds()))
    kept = asyncio.create_task(batcher.submit(one(2), feeds()))
    await asyncio.sleep(0.01)
    gone.cancel()
    recorder.gate.set()
    ran = await kept
    await first
    assert recorder.sizes == [1, 1]
    assert ran.outputs["y"][ran.index][0] == 4.0
    await batcher.aclose()


async def test_a_failed_run_fails_its_images_and_the_runner_goes_on() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    recorder.fail = True
    with pytest.raises(RuntimeError, match="fell over"):
        await batcher.submit(one(1), feeds())
    recorder.fail = False
    ran = await batcher.submit(one(3), feeds())
    assert ran.outputs["y"][0][0] == 6.0
    await batcher.aclose()


async def test_two_runners_run_two_batches_at_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=2)
    recorder.gate.clear()
    a = asyncio.create_task(batcher.submit(one(1), feeds()))
    await asyncio.sleep(0.01)
    b = asyncio.create_task(batcher.submit(one(2), feeds()))
    await asyncio.sleep(0.01)
    assert batcher.depth == 0  # the second runner took it while the first is held
    recorder.gate.set()
    await asyncio.gather(a, b)
    assert recorder.sizes == [1, 1]
    await batcher.aclose()


async def test_closing_cancels_what_is_still_queued() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, runs=1)
    first = await held(recorder, batcher)
    queued = asyncio.create_task(batcher.submit(one(1), feeds()))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(batcher.aclose())
    await asyncio.sleep(0.01)
    recorder.gate.set()
    await closing
    with pytest.raises(asyncio.CancelledError):
        await queued
    await asyncio.gather(first, return_exceptions=True)


def test_feeds_key_tells_head_inputs_apart() -> None:
    assert feeds_key(feeds(0.5)) == feeds_key(feeds(0.5))
    assert feeds_key(feeds(0.5)) != feeds_key(feeds(0.25))


# --- the bundled models, batched for real ---------------------------------------


@pytest.fixture(scope="module")
def bundled() -> ModelRegistry:
    settings = Settings(config_path=ROOT / "configs" / "models.yaml", warmup=False)
    return ModelRegistry.from_settings(settings)


def assert_same_detections(a: Detections, b: Detections) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    if a.polygons is not None and b.polygons is not None:
        for p, q in zip(a.polygons, b.polygons, strict=True):
            np.testing.assert_allclose(p, q, atol=1e-2)


@pytest.mark.parametrize("model_id", ["shapes-detect/1", "shapes-seg/1", "shapes-semantic/1"])
async def test_concurrent_requests_batched_give_the_one_image_results(
    bundled: ModelRegistry, model_id: str
) -> None:
    model = bundled.get(model_id)
    alone = [model.predict([scene], InferenceParams())[0] for scene in SCENES]
    pipeline = Pipeline(bundled, runs_per_model=1, worker_threads=2)
    batcher = pipeline.batchers[model_id]
    loads = [lambda scene=scene: scene for scene in SCENES * 3]
    pairs = await asyncio.gather(
        *(pipeline.predict(model, load, InferenceParams()) for load in loads)
    )
    await pipeline.aclose()
    assert max(batcher.batch_sizes) > 1, batcher.batch_sizes  # some really were batched
    assert sum(size * n for size, n in batcher.batch_sizes.items()) == len(loads)
    for i, (image, prediction) in enumerate(pairs):
        assert image is SCENES[i % 3]
        expected = alone[i % 3]
        assert (prediction.width, prediction.height) == (expected.width, expected.height)
        if isinstance(expected.result, SemanticMask):
            assert isinstance(prediction.result, SemanticMask)
            np.testing.assert_array_equal(prediction.result.class_map, expected.result.class_map)
        else:
            assert isinstance(prediction.result, Detections)
            assert isinstance(expected.result, Detections)
            assert_same_detections(prediction.result, expected.result)


def test_predict_splits_a_long_list_into_runs_of_max_batch(bundled: ModelRegistry) -> None:
    model = bundled.get("shapes-detect/1")
    alone = model.predict([SCENES[0]], InferenceParams())[0].result
    predictions = model.predict([SCENES[0]] * (model.max_batch + 3), InferenceParams())
    assert len(predictions) == model.max_batch + 3
    for prediction in predictions:
        assert isinstance(prediction.result, Detections)
        assert isinstance(alone, Detections)
        assert_same_detections(prediction.result, alone)


def test_a_fixed_batch_model_runs_one_image_at_a_time(tmp_path: Path) -> None:
    raw = np.zeros((1, 6, 1))
    raw[0, :5, 0] = [160, 160, 64, 32, 0.9]
    mask = np.zeros((1, 6, 1))
    mask[0, 4:6] = 1
    meta = ultralytics_metadata(["a", "b"], "detect", (320, 320))
    save(make_model({"output0": (raw, mask)}, meta, batch=1), tmp_path / "m.onnx")
    config_path = write_config(tmp_path, [{"id": "t/1", "path": "m.onnx", "max_batch": 16}])
    model = Model.load(load_model_configs(config_path)[0])
    assert not model.spec.dynamic_batch
    assert model.max_batch == 1
    blank = np.zeros((240, 320, 3), np.uint8)
    predictions = model.predict([blank] * 3, InferenceParams())
    assert [len(p.result) for p in predictions if isinstance(p.result, Detections)] == [1, 1, 1]


async def test_http_requests_arriving_together_share_a_run(tmp_path: Path) -> None:
    """Through the Roboflow route: with a batch wait, 4 requests made at once run as one
    batch of 4, and each gets the answer it gets alone."""
    settings = Settings(
        config_path=ROOT / "configs" / "models.yaml",
        keys_path=ROOT / "configs" / "keys.yaml",
        task_db=tmp_path / "tasks.sqlite3",
        warmup=False,
        max_batch=4,
        batch_wait_ms=300,
    )
    bodies = [cv2.imencode(".jpg", scene)[1].tobytes() for scene in SCENES[:2] * 2]
    async with serving(settings) as client:

        async def post(body: bytes) -> httpx.Response:
            return await client.post(
                "/shapes-seg/1", params={"api_key": DEMO_KEY}, content=body,
                headers={"content-type": "application/octet-stream"},
            )  # fmt: skip

        together = await asyncio.gather(*(post(body) for body in bodies))
        app_state = client._transport.app.state.gateway  # type: ignore[attr-defined]
        sizes = dict(app_state.pipeline.batchers["shapes-seg/1"].batch_sizes)
        alone = [await post(body) for body in bodies[:2]]
    assert sizes == {4: 1}
    for i, response in enumerate(together):
        assert response.status_code == 200, response.text
        got, expected = response.json()["predictions"], alone[i % 2].json()["predictions"]
        assert len(got) == len(expected) > 0
        for p, q in zip(got, expected, strict=True):
            assert p["class"] == q["class"]
            assert p["confidence"] == pytest.approx(q["confidence"], abs=1e-3)
            assert p["points"] == q["points"]
