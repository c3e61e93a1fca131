"""Write the example images under ``models/examples`` (deterministic, from ``EXAMPLES_SEED``).

Usage (from the repository root)::

    python -m models.training.make_examples [--out models/examples]

Produces ``scene-1.jpg`` (landscape), ``scene-2.jpg`` (portrait), ``scene-3.jpg`` (near
square), each with ``scene-N.json`` ground truth ``{"width", "height", "objects": [{"class",
"box": [x1, y1, x2, y2]}]}``, and classification crops ``crop-circle.jpg`` and ``crop-star.jpg``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from models.training import scenes

JPEG_QUALITY = 92
MIN_OBJECTS = 3
CROP_CLASSES = ("circle", "star")


def _landscape(scene: scenes.Scene) -> bool:
    height, width = scene.image.shape[:2]
    return width >= 1.25 * height


def _portrait(scene: scenes.Scene) -> bool:
    height, width = scene.image.shape[:2]
    return height >= 1.25 * width


def _squarish(scene: scenes.Scene) -> bool:
    height, width = scene.image.shape[:2]
    return max(height, width) <= 1.1 * min(height, width)


def pick_scenes(rng: np.random.Generator) -> list[scenes.Scene]:
    """The first landscape, portrait and near-square scenes with enough objects."""
    wanted: list[Callable[[scenes.Scene], bool]] = [_landscape, _portrait, _squarish]
    found: list[scenes.Scene | None] = [None] * len(wanted)
    while any(scene is None for scene in found):
        scene = scenes.make_scene(rng)
        if len(scene.class_ids) < MIN_OBJECTS:
            continue
        for index, test in enumerate(wanted):
            if found[index] is None and test(scene):
                found[index] = scene
                break
    return [scene for scene in found if scene is not None]


def ground_truth(scene: scenes.Scene) -> dict[str, object]:
    """The JSON ground truth of a scene (boxes are exact integer pixel bounds)."""
    height, width = scene.image.shape[:2]
    objects = [
        {"class": scenes.CLASSES[int(class_id)], "box": [int(v) for v in box]}
        for box, class_id in zip(scene.boxes, scene.class_ids, strict=True)
    ]
    return {"width": width, "height": height, "objects": objects}


def write_jpeg(path: Path, image: np.ndarray) -> None:
    """Write a BGR image as a quality-92 JPEG."""
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f"could not write {path}")


def main() -> None:
    """Generate and write all examples."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(scenes.EXAMPLES_SEED)
    for number, scene in enumerate(pick_scenes(rng), start=1):
        write_jpeg(args.out / f"scene-{number}.jpg", scene.image)
        text = json.dumps(ground_truth(scene), indent=2) + "\n"
        (args.out / f"scene-{number}.json").write_text(text)
    remaining = set(CROP_CLASSES)
    while remaining:
        image, class_id = scenes.make_crop(rng)
        name = scenes.CLASSES[class_id]
        if name in remaining:
            write_jpeg(args.out / f"crop-{name}.jpg", image)
            remaining.discard(name)
    print(f"wrote examples to {args.out}")


if __name__ == "__main__":
    main()
