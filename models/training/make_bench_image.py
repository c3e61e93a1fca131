"""Write ``models/examples/bench-640x480.jpg``, the image of the throughput benchmarks.

Usage (from the repository root)::

    python -m models.training.make_bench_image [--out models/examples]

The first generated scene (seed stream ``[EXAMPLES_SEED, 640480]``) that is landscape
and has at least six objects, resized to 640 x 480: the size the issue's targets name,
with objects the bundled detection and segmentation models find.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models.training import scenes
from models.training.make_examples import write_jpeg

SIZE = (640, 480)  # width, height
MIN_OBJECTS = 6


def bench_scene() -> np.ndarray:
    rng = np.random.default_rng([scenes.EXAMPLES_SEED, 640480])
    while True:
        scene = scenes.make_scene(rng)
        height, width = scene.image.shape[:2]
        if len(scene.class_ids) >= MIN_OBJECTS and width >= 1.2 * height:
            return np.asarray(cv2.resize(scene.image, SIZE, interpolation=cv2.INTER_AREA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "examples"
    )
    args = parser.parse_args()
    path = args.out / "bench-640x480.jpg"
    write_jpeg(path, bench_scene())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
