"""Matte targets and the held-out evaluation of the foreground-matting model.

Only numpy, OpenCV and onnxruntime are used here (no torch).

Usage (from the repository root)::

    python -m models.training.evaluate_matting [--model models/shapes-matte.onnx] [--count 200]
        [--json PATH]

Target: the foreground is every object pixel of a scene (``scene.semantic > 0``); the soft
ground-truth alpha is that binary mask blurred with a small Gaussian (``EDGE_SIGMA`` pixels at
the scene's resolution), so the matte has smooth, anti-aliased edges whose 0.5 level follows the
mask boundary. For training it is letterboxed like the image (area resampling when shrinking,
so edges stay anti-aliased; zero in the padding).

Protocol: ``DEFAULT_SCENES`` held-out scenes from one generator seeded with ``HELDOUT_SEED``,
letterbox pre-processing, one image per run; the logits are cropped to the letterbox window,
resized bilinearly to the original size, and alpha = sigmoid(logit).

* ``IoU``: mean over images of the IoU between ``alpha > 0.5`` and ``scene.semantic > 0``;
* ``MAE``: mean over images of the mean absolute error between alpha and the soft target.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.training import scenes
from models.training.data import IMGSZ, Letterbox, letterbox, to_input
from models.training.evaluate import session

EDGE_SIGMA = 0.7
"""Standard deviation (original-image pixels) of the blur that softens the mask edges."""
THRESHOLD = 0.5
DEFAULT_SCENES = 200
MODEL_FILE = "shapes-matte.onnx"


def soft_alpha(semantic: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 soft alpha in 0..1 of a label map (any label > 0 is foreground)."""
    mask = (semantic > 0).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), EDGE_SIGMA, borderType=cv2.BORDER_REPLICATE)


def letterbox_alpha(alpha: np.ndarray, geometry: Letterbox, size: int = IMGSZ) -> np.ndarray:
    """Letterbox a float alpha map into ``(size, size)`` (area resampling when shrinking)."""
    interpolation = cv2.INTER_AREA if geometry.ratio < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(
        alpha, (geometry.new_width, geometry.new_height), interpolation=interpolation
    )
    out = np.zeros((size, size), np.float32)
    out[
        geometry.top : geometry.top + geometry.new_height,
        geometry.left : geometry.left + geometry.new_width,
    ] = resized
    return out


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def alpha_to_image(logits: np.ndarray, geometry: Letterbox, height: int, width: int) -> np.ndarray:
    """``(S, S)`` input-resolution logits -> ``(H, W)`` alpha at the original resolution."""
    return sigmoid(geometry.map_to_image(logits, height, width, cv2.INTER_LINEAR))


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two bool masks (1.0 when both are empty)."""
    union = np.count_nonzero(pred | truth)
    return np.count_nonzero(pred & truth) / union if union else 1.0


def evaluate(model: Path, count: int = DEFAULT_SCENES) -> dict[str, float]:
    """Mean IoU of the thresholded matte and mean alpha MAE on held-out scenes."""
    sess = session(model)
    ious, errors = [], []
    for scene in scenes.generate_scenes(scenes.HELDOUT_SEED, count):
        height, width = scene.image.shape[:2]
        image, geometry = letterbox(scene.image, IMGSZ)
        logits = sess.run(None, {"images": to_input(image[None])})[0][0, 0]
        alpha = alpha_to_image(logits, geometry, height, width)
        ious.append(mask_iou(alpha > THRESHOLD, scene.semantic > 0))
        errors.append(float(np.abs(alpha - soft_alpha(scene.semantic)).mean()))
    return {
        "IoU": float(np.mean(ious)),
        "IoU_min": float(np.min(ious)),
        "IoU_median": float(np.median(ious)),
        "MAE": float(np.mean(errors)),
        "threshold": THRESHOLD,
        "scenes": count,
    }


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_model = Path(__file__).resolve().parents[1] / MODEL_FILE
    parser.add_argument("--model", type=Path, default=default_model)
    parser.add_argument("--count", type=int, default=DEFAULT_SCENES)
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    args = parser.parse_args()
    text = json.dumps(evaluate(args.model, args.count), indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
