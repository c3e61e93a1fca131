"""Instance polygons, semantic class maps and classification on crafted graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams
from gateway.results import Classification, Detections, SemanticMask
from tests.layouts import make_model, save, ultralytics_metadata, write_config

SIZE = 320
P = SIZE // 4  # prototype resolution
CIRCLE = ((100.0, 120.0), 40.0)  # centre and radius, network pixels
RECT = (180.0, 60.0, 290.0, 130.0)  # xyxy, network pixels


def proto_grid() -> tuple[np.ndarray, np.ndarray]:
    """Network coordinates of prototype pixel centres."""
    centres = (np.arange(P) + 0.5) * (SIZE / P)
    return np.meshgrid(centres, centres)


def signed_distances() -> np.ndarray:
    """Channel 0: inside the circle > 0; channel 1: inside the rectangle > 0."""
    x, y = proto_grid()
    (cx, cy), r = CIRCLE
    x1, y1, x2, y2 = RECT
    protos = np.zeros((1, 32, P, P))
    protos[0, 0] = r - np.hypot(x - cx, y - cy)
    protos[0, 1] = np.minimum.reduce([x - x1, x2 - x, y - y1, y2 - y])
    return protos


def load(tmp: Path, **extra: object) -> Model:
    (config,) = load_model_configs(write_config(tmp, [{"id": "t/1", "path": "m.onnx", **extra}]))
    return Model.load(config)


@pytest.fixture
def instance_model(tmp_path: Path) -> Model:
    nc = 2
    raw = np.zeros((1, 4 + nc + 32, 3))
    (cx, cy), r = CIRCLE
    raw[0, :6, 0] = [cx, cy, 2 * r + 6, 2 * r + 6, 0.9, 0]
    raw[0, 6, 0] = 1.0  # coefficient on the circle prototype
    x1, y1, x2, y2 = RECT
    raw[0, :6, 1] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1 + 8, y2 - y1 + 8, 0, 0.8]
    raw[0, 7, 1] = 1.0
    # The circle's mask again, but under a box that cuts it in half.
    raw[0, :6, 2] = [cx + r / 2, cy, r, 2 * r + 6, 0, 0.7]
    raw[0, 6, 2] = 1.0
    mask = np.zeros((1, raw.shape[1], 1))
    mask[0, 4:6] = 1
    outputs = {"output0": (raw, mask), "output1": (signed_distances(), None)}
    meta = ultralytics_metadata(["disc", "plate"], "segment", (SIZE, SIZE))
    save(make_model(outputs, meta), tmp_path / "m.onnx")
    return load(tmp_path)


def iou(a: Polygon, b: Polygon) -> float:
    return float(a.intersection(b).area / a.union(b).area)


def test_polygons_follow_the_mask_in_original_pixels(instance_model: Model) -> None:
    # 640x480 -> scale 0.5, 40 px of padding above and below at network size.
    image = np.full((480, 640, 3), 255, np.uint8)
    (prediction,) = instance_model.predict([image], InferenceParams(confidence=0.5, iou=0.9))
    result = prediction.result
    assert isinstance(result, Detections)
    assert result.polygons is not None
    circle_pts, rect_pts, half_pts = result.polygons
    (cx, cy), r = CIRCLE
    circle = Point(cx * 2, (cy - 40) * 2).buffer(r * 2, quad_segs=64)
    x1, y1, x2, y2 = RECT
    rect = box(x1 * 2, (y1 - 40) * 2, x2 * 2, (y2 - 40) * 2)
    for points, truth in ((circle_pts, circle), (rect_pts, rect)):
        polygon = Polygon(points)
        assert polygon.is_valid
        assert iou(polygon, truth) > 0.98
    # Axis-aligned edges land within a pixel of the truth.
    np.testing.assert_allclose(Polygon(rect_pts).bounds, rect.bounds, atol=1.0)
    # The third box holds only the right half of the disc: the mask is cropped to it.
    half = circle.intersection(box(cx * 2, 0, 640, 480))
    assert iou(Polygon(half_pts), half) > 0.97
    assert Polygon(half_pts).bounds[0] >= cx * 2 - 1.0


def test_polygons_are_simplified(instance_model: Model) -> None:
    image = np.full((SIZE, SIZE, 3), 255, np.uint8)
    (prediction,) = instance_model.predict([image], InferenceParams(confidence=0.5, iou=0.9))
    assert prediction.result.polygons is not None
    rect_pts = prediction.result.polygons[1]
    assert len(rect_pts) <= 8  # a rectangle needs 4 corners, not one vertex per pixel
    assert len(prediction.result.polygons[0]) < 2 * np.pi * 40  # fewer than perimeter pixels


@pytest.fixture
def semantic_model(tmp_path: Path) -> Model:
    x, y = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5)
    (cx, cy), r = CIRCLE
    x1, y1, x2, y2 = RECT
    logits = np.zeros((1, 3, SIZE, SIZE))
    logits[0, 0] = 0.5
    logits[0, 1] = ((x >= x1) & (x < x2) & (y >= y1) & (y < y2)) * 2.0
    logits[0, 2] = (np.hypot(x - cx, y - cy) < r) * 3.0
    meta = ultralytics_metadata(["background", "plate", "disc"], "semantic", (SIZE, SIZE))
    save(make_model({"output0": (logits, None)}, meta), tmp_path / "m.onnx")
    return load(tmp_path)


def test_semantic_map_is_original_size_and_aligned(semantic_model: Model) -> None:
    image = np.full((480, 640, 3), 255, np.uint8)
    (prediction,) = semantic_model.predict([image], InferenceParams())
    result = prediction.result
    assert isinstance(result, SemanticMask)
    assert result.class_map.shape == (480, 640)
    assert result.class_names == ("background", "plate", "disc")
    x, y = np.meshgrid(np.arange(640) + 0.5, np.arange(480) + 0.5)
    x1, y1, x2, y2 = RECT
    plate = (x >= 2 * x1) & (x < 2 * x2) & (y >= 2 * (y1 - 40)) & (y < 2 * (y2 - 40))
    (cx, cy), r = CIRCLE
    disc = np.hypot(x - 2 * cx, y - 2 * (cy - 40)) < 2 * r
    expected = np.where(disc, 2, np.where(plate, 1, 0))
    # The rectangle's edges fall on pixel edges at both scales: it is exact. Nearest
    # upsampling of the disc (a staircase at network size) may differ only on its rim.
    np.testing.assert_array_equal(result.class_map == 1, plate & ~disc)
    rim = 2 * np.pi * 2 * r
    assert (result.class_map != expected).sum() < 0.5 * rim


def test_single_channel_semantic_logits_are_binary(tmp_path: Path) -> None:
    logits = np.full((1, 1, SIZE, SIZE), -2.0)
    logits[0, 0, 100:200, 50:150] = 2.0
    meta = ultralytics_metadata(["background", "thing"], "semantic", (SIZE, SIZE))
    save(make_model({"output0": (logits, None)}, meta), tmp_path / "m.onnx")
    (prediction,) = load(tmp_path).predict([np.zeros((SIZE, SIZE, 3), np.uint8)], InferenceParams())
    class_map = prediction.result.class_map
    assert class_map[150, 100] == 1
    assert class_map[10, 10] == 0
    assert int(class_map.sum()) == 100 * 100


@pytest.mark.parametrize(
    ("activation", "multi_label", "raw", "expected"),
    [
        ("none", False, [0.1, 0.7, 0.2], [0.1, 0.7, 0.2]),
        ("softmax", False, [0.0, np.log(3.0), 0.0], [0.2, 0.6, 0.2]),
        ("sigmoid", True, [0.0, 2.0, -2.0], [0.5, 0.8808, 0.1192]),
    ],
)
def test_classification_scores(
    tmp_path: Path, activation: str, multi_label: bool, raw: list[float], expected: list[float]
) -> None:
    meta = ultralytics_metadata(["cat", "dog", "bird"], "classify", (64, 64))
    save(
        make_model({"output0": (np.array([raw]), None)}, meta, imgsz=(64, 64)), tmp_path / "m.onnx"
    )
    model = load(tmp_path, activation=activation, multi_label=multi_label)
    assert model.spec.preprocessing.resize_type == "crop"
    (prediction,) = model.predict([np.zeros((100, 50, 3), np.uint8)], InferenceParams())
    result = prediction.result
    assert isinstance(result, Classification)
    np.testing.assert_allclose(result.confidence, expected, atol=1e-4)
    assert result.ranked()[0][0] == 1
    assert result.multi_label is multi_label


def test_valid_polygons_even_from_thin_masks() -> None:
    from gateway.preprocess import Transform
    from gateway.tasks.polygons import mask_to_polygon

    logits = np.full((P, P), -5.0, np.float32)
    logits[10:30, 20] = 5.0  # a one-prototype-wide line
    logits[30, 20:40] = 5.0
    logits[5, 5] = 5.0  # an isolated speck, smaller than the line
    identity = Transform(1.0, 1.0, 0.0, 0.0, SIZE, SIZE)
    points = mask_to_polygon(
        logits, np.array([0, 0, SIZE, SIZE], np.float32), (SIZE, SIZE), identity
    )
    polygon = Polygon(points)
    assert polygon.is_valid
    assert not polygon.is_empty
    assert shapely.get_num_coordinates(polygon) >= 4
    assert polygon.bounds[1] > 30  # the line, not the speck
