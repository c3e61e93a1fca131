"""Detection and instance heads on graphs of each real export layout, against a reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams
from tests.layouts import make_model, save, ultralytics_metadata, write_config
from tests.reference import cxcywh_to_xyxy, nms

NAMES = ["person", "car", "dog", "cat", "bus"]
NC = len(NAMES)
NM = 32
SIZE = 320
WHITE = np.full((SIZE, SIZE, 3), 255, np.uint8)


def candidates(
    seed: int = 0, n: int = 240
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clustered boxes (so NMS has work), per-class scores, objectness, mask coefficients."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(40, SIZE - 40, size=(8, 2))
    sizes = rng.uniform(20, 90, size=(8, 2))
    pick = rng.integers(0, 8, size=n)
    cxcy = centres[pick] + rng.normal(0, 4, size=(n, 2))
    wh = sizes[pick] * rng.uniform(0.8, 1.2, size=(n, 2))
    cls = rng.uniform(0, 0.2, size=(n, NC))
    cls[np.arange(n), rng.integers(0, NC, size=n)] = rng.uniform(0.05, 0.99, size=n)
    obj = rng.uniform(0.5, 1.0, size=n)
    coef = rng.normal(0, 1, size=(n, NM))
    return np.concatenate([cxcy, wh], axis=1), cls, obj, coef


def build(
    layout: str, with_masks: bool, tmp: Path
) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """Write a model of `layout`; return (path, xyxy, score, class) of every candidate."""
    box, cls, obj, coef = candidates()
    n = len(box)
    nm = NM if with_masks else 0
    xyxy = cxcywh_to_xyxy(box)
    if layout == "yolov5":
        scores_all = cls * obj[:, None]
        raw = np.concatenate([box, obj[:, None], cls, coef[:, :nm]], axis=1)[None]
        mask = np.zeros((1, 1, raw.shape[2]))
        mask[0, 0, 5 : 5 + NC] = 1
    elif layout == "end2end":
        k = 300
        scores_all = cls
        best = cls.argmax(1)
        rows = np.zeros((k, 6 + nm))
        rows[:n, :4] = xyxy
        rows[:n, 4] = cls.max(1)
        rows[:n, 5] = best
        rows[:n, 6:] = coef[:, :nm]
        raw = rows[None]
        mask = np.zeros((1, 1, raw.shape[2]))
        mask[0, 0, 4] = 1
    else:  # yolov8 and yolo11 share the layout
        scores_all = cls
        raw = np.concatenate([box, cls, coef[:, :nm]], axis=1).T[None]
        mask = np.zeros((1, raw.shape[1], 1))
        mask[0, 4 : 4 + NC] = 1
    outputs = {"output0": (raw, mask)}
    task = "detect"
    if with_masks:
        protos = np.random.default_rng(1).normal(0, 1, size=(1, NM, SIZE // 4, SIZE // 4))
        outputs["output1"] = (protos, None)
        task = "segment"
    path = save(
        make_model(outputs, ultralytics_metadata(NAMES, task, (SIZE, SIZE))), tmp / "m.onnx"
    )
    return path, xyxy, scores_all.max(1), scores_all.argmax(1)


def load(tmp: Path, **extra: object) -> Model:
    (config,) = load_model_configs(write_config(tmp, [{"id": "test/1", "path": "m.onnx", **extra}]))
    return Model.load(config)


LAYOUTS = [
    ("yolov8", False),
    ("yolov8", True),
    ("yolo11", False),
    ("yolov5", False),
    ("yolov5", True),
    ("end2end", False),
    ("end2end", True),
]
PARAMS = [
    InferenceParams(confidence=0.25, iou=0.45),
    InferenceParams(confidence=0.5, iou=0.3),
    InferenceParams(confidence=0.1, iou=0.7, max_detections=5),
    InferenceParams(confidence=0.2, iou=0.5, class_agnostic=True),
    InferenceParams(confidence=0.2, iou=0.5, classes=frozenset({"dog", "bus"})),
]


@pytest.mark.parametrize(("layout", "with_masks"), LAYOUTS)
@pytest.mark.parametrize("params", PARAMS)
def test_head_matches_reference_nms(
    tmp_path: Path, layout: str, with_masks: bool, params: InferenceParams
) -> None:
    _path, xyxy, score, cls = build(layout, with_masks, tmp_path)
    model = load(tmp_path)
    expected_kind = "yolov8" if layout == "yolo11" else layout
    assert model.spec.detection is not None
    assert model.spec.detection.kind == expected_kind
    assert model.spec.class_names == tuple(NAMES)

    if params.classes is not None:
        allowed = [NAMES.index(c) for c in params.classes]
        score = np.where(np.isin(cls, allowed), score, 0.0)
    assert params.confidence is not None
    assert params.iou is not None
    keep = nms(
        xyxy,
        score,
        cls,
        params.confidence,
        params.iou,
        params.max_detections or 300,
        params.class_agnostic,
    )
    (prediction,) = model.predict([WHITE], params)
    result = prediction.result
    assert len(result) == len(keep) > 0
    np.testing.assert_allclose(result.xyxy, np.clip(xyxy[keep], 0, SIZE), atol=1e-3)
    np.testing.assert_allclose(result.confidence, score[keep], atol=1e-5)
    np.testing.assert_array_equal(result.class_id, cls[keep])
    if with_masks:
        assert result.polygons is not None
        assert len(result.polygons) == len(keep)
    else:
        assert result.polygons is None


def test_batch_images_are_kept_apart(tmp_path: Path) -> None:
    build("yolov8", True, tmp_path)
    model = load(tmp_path)
    params = InferenceParams(confidence=0.3, iou=0.45)
    black = np.zeros_like(WHITE)  # the fixture scales scores by the image's max pixel
    white, dark, white_again = model.predict([WHITE, black, WHITE], params)
    assert len(white.result) > 0
    assert len(dark.result) == 0
    np.testing.assert_array_equal(white.result.xyxy, white_again.result.xyxy)
    for a, b in zip(white.result.polygons or (), white_again.result.polygons or (), strict=True):
        np.testing.assert_array_equal(a, b)


def test_letterboxed_boxes_map_back_to_original_pixels(tmp_path: Path) -> None:
    raw = np.zeros((1, 4 + NC, 2))
    raw[0, :, 0] = [160, 160, 40, 20, 0.9, 0, 0, 0, 0]  # centre of the network input
    raw[0, :, 1] = [20, 100, 20, 40, 0, 0.8, 0, 0, 0]  # 10..30 x 80..120
    mask = np.zeros((1, 4 + NC, 1))
    mask[0, 4:] = 1
    meta = ultralytics_metadata(NAMES, "detect", (SIZE, SIZE))
    save(make_model({"output0": (raw, mask)}, meta), tmp_path / "m.onnx")
    model = load(tmp_path)
    # 1280x640 -> scale 0.25, content 320x160, padded 80 px above and below.
    image = np.full((640, 1280, 3), 255, np.uint8)
    (prediction,) = model.predict([image], InferenceParams(confidence=0.5, iou=0.5))
    assert (prediction.width, prediction.height) == (1280, 640)
    np.testing.assert_allclose(
        prediction.result.xyxy, [[560, 280, 720, 360], [40, 0, 120, 160]], atol=1e-4
    )
    assert prediction.result.names() == ["person", "car"]


def test_fixed_batch_axis_runs_one_image_at_a_time(tmp_path: Path) -> None:
    box, cls, _, _ = candidates()
    raw = np.concatenate([box, cls], axis=1).T[None]
    mask = np.zeros((1, raw.shape[1], 1))
    mask[0, 4:] = 1
    meta = ultralytics_metadata(NAMES, "detect", (SIZE, SIZE))
    save(make_model({"output0": (raw, mask)}, meta, batch=1), tmp_path / "m.onnx")
    model = load(tmp_path)
    assert not model.spec.dynamic_batch
    params = InferenceParams(confidence=0.3, iou=0.45)
    one, two = model.predict([WHITE, WHITE], params)
    assert len(one.result) > 0
    np.testing.assert_array_equal(one.result.xyxy, two.result.xyxy)


def test_explicit_layout_overrides_detection(tmp_path: Path) -> None:
    build("yolov5", False, tmp_path)
    with pytest.raises(Exception, match="yolov8 needs 9 columns"):
        load(tmp_path, layout="yolov8")


@pytest.mark.parametrize(("layout", "with_masks"), LAYOUTS)
def test_only_kept_detections_leave_the_graph(
    tmp_path: Path, layout: str, with_masks: bool
) -> None:
    """The raw candidate tensor is not a session output: on a GPU it never reaches the host."""
    build(layout, with_masks, tmp_path)
    model = load(tmp_path)
    expected = {"gw_batch", "gw_boxes", "gw_scores", "gw_classes"}
    if with_masks:
        expected.add("gw_masks")
    assert set(model.session.output_names) == expected
