"""The bundled models, as configs/models.yaml serves them, on the shipped example images."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest

from gateway.cli import main
from tests.conftest import ROOT, serving
from tests.truth import EXAMPLES, best_iou

CONFIG = ROOT / "configs" / "models.yaml"
CLASSES = ["circle", "triangle", "square", "star"]
SCENES = sorted(EXAMPLES.glob("scene-*.jpg"))


def predict(capsys: pytest.CaptureFixture[str], image: Path, model: str) -> dict[str, object]:
    assert main(["--config", str(CONFIG), "predict", str(image), "--model", model]) == 0
    return dict(orjson.loads(capsys.readouterr().out))


@pytest.mark.parametrize("scene", SCENES, ids=lambda p: p.stem)
@pytest.mark.parametrize("model", ["shapes-detect/1", "shapes-seg/1"])
def test_detectors_find_every_object(
    capsys: pytest.CaptureFixture[str], scene: Path, model: str
) -> None:
    truth = json.loads(scene.with_suffix(".json").read_text())
    body = predict(capsys, scene, model)
    assert body["image"] == {"width": truth["width"], "height": truth["height"]}
    predictions = body["predictions"]
    assert isinstance(predictions, list)
    boxes = [
        [
            p["x"] - p["width"] / 2,
            p["y"] - p["height"] / 2,
            p["x"] + p["width"] / 2,
            p["y"] + p["height"] / 2,
        ]
        for p in predictions
    ]
    for obj in truth["objects"]:
        same = [b for b, p in zip(boxes, predictions, strict=True) if p["class"] == obj["class"]]
        assert best_iou(obj["box"], same) >= 0.5, (obj, predictions)  # the mAP@0.5 criterion
    if model == "shapes-seg/1":
        assert all(len(p["points"]) >= 3 for p in predictions)


@pytest.mark.parametrize("scene", SCENES, ids=lambda p: p.stem)
def test_semantic_model_paints_the_objects(capsys: pytest.CaptureFixture[str], scene: Path) -> None:
    truth = json.loads(scene.with_suffix(".json").read_text())
    body = predict(capsys, scene, "shapes-semantic/1")
    assert body["class_map"] == {
        "0": "background",
        **{str(i + 1): c for i, c in enumerate(CLASSES)},
    }
    png = np.frombuffer(base64.b64decode(str(body["segmentation_mask"])), np.uint8)
    mask = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
    assert mask.shape == (truth["height"], truth["width"])
    for obj in truth["objects"]:
        x1, y1, x2, y2 = obj["box"]
        inside = mask[y1:y2, x1:x2]
        # The box is the object's visible extent: its own class paints a fair part of it
        # (a triangle fills half its box; other objects may show through the rest).
        share = float((inside == 1 + CLASSES.index(obj["class"])).mean())
        assert share > 0.2, (obj, share)


@pytest.mark.parametrize("crop", sorted(EXAMPLES.glob("crop-*.jpg")), ids=lambda p: p.stem)
def test_classifier_names_the_crop(capsys: pytest.CaptureFixture[str], crop: Path) -> None:
    body = predict(capsys, crop, "shapes-cls/1")
    assert body["top"] == crop.stem.removeprefix("crop-")
    assert float(str(body["confidence"])) > 0.5


async def test_bundled_matte_on_the_known_scene(tmp_path: Path) -> None:
    """Golden check: high alpha on the objects, low on the background, RGBA alpha = matte."""

    from gateway.settings import Settings

    scene = EXAMPLES / "matte-scene.jpg"
    truth = cv2.imread(str(EXAMPLES / "matte-scene-alpha.png"), cv2.IMREAD_UNCHANGED) >= 128
    settings = Settings(config_path=CONFIG, api_keys="k", task_db=tmp_path / "t.db", warmup=False)
    body = {"img": base64.b64encode(scene.read_bytes()).decode()}
    async with serving(settings, "http://t") as client:
        alpha_b64 = (
            await client.post("/human_image_segmentation", json=body, headers={"X-API-KEY": "k"})
        ).json()["result"]
        rgba_b64 = (
            await client.post(
                "/human_image_segmentation",
                json={**body, "type": "foreground"},
                headers={"X-API-KEY": "k"},
            )
        ).json()["result"]
    alpha = cv2.imdecode(np.frombuffer(base64.b64decode(alpha_b64), np.uint8), cv2.IMREAD_UNCHANGED)
    rgba = cv2.imdecode(np.frombuffer(base64.b64decode(rgba_b64), np.uint8), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == truth.shape
    assert rgba.shape == (*truth.shape, 4)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    assert alpha[truth].mean() > 200
    assert alpha[~truth].mean() < 40
    iou = np.logical_and(alpha >= 128, truth).sum() / np.logical_or(alpha >= 128, truth).sum()
    assert iou > 0.9
