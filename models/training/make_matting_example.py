"""Write the matting example under ``models/examples`` (deterministic, from ``EXAMPLES_SEED``).

Usage (from the repository root)::

    python -m models.training.make_matting_example [--out models/examples]

Produces ``matte-scene.jpg`` (JPEG quality 92), the first scene with at least ``MIN_OBJECTS``
objects drawn from ``default_rng([EXAMPLES_SEED, MATTE_STREAM])``, and its ground-truth alpha
``matte-scene-alpha.png`` (8-bit grey, 255 = foreground, soft edges as in
:func:`models.training.evaluate_matting.soft_alpha`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models.training import scenes
from models.training.evaluate_matting import soft_alpha

JPEG_QUALITY = 92
MIN_OBJECTS = 2
MATTE_STREAM = 4
"""Second seed word, so the matting example differs from the other examples' scenes."""


def pick_scene(rng: np.random.Generator) -> scenes.Scene:
    """The first generated scene with at least ``MIN_OBJECTS`` objects."""
    while True:
        scene = scenes.make_scene(rng)
        if len(scene.class_ids) >= MIN_OBJECTS:
            return scene


def write_example(out: Path) -> tuple[Path, Path]:
    """Write the example image and its alpha; returns their paths."""
    scene = pick_scene(np.random.default_rng([scenes.EXAMPLES_SEED, MATTE_STREAM]))
    alpha = np.round(soft_alpha(scene.semantic) * 255.0).astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    image_path, alpha_path = out / "matte-scene.jpg", out / "matte-scene-alpha.png"
    cv2.imwrite(str(image_path), scene.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    cv2.imwrite(str(alpha_path), alpha)
    return image_path, alpha_path


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parents[1] / "examples"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    for path in write_example(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
