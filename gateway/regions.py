"""Restricting an input image to a region given in normalised coordinates."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gateway.errors import InvalidParameter
from gateway.images import Image

Point = tuple[float, float]


def _box(
    xmin: float, ymin: float, xmax: float, ymax: float, w: int, h: int
) -> tuple[int, int, int, int]:
    if not 0.0 <= xmin < xmax <= 1.0 or not 0.0 <= ymin < ymax <= 1.0:
        raise InvalidParameter("a region needs 0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1")
    x1, y1 = int(np.floor(xmin * w)), int(np.floor(ymin * h))
    x2, y2 = max(int(np.ceil(xmax * w)), x1 + 1), max(int(np.ceil(ymax * h)), y1 + 1)
    return x1, y1, x2, y2


def crop_region(
    image: Image,
    bbox: tuple[float, float, float, float] | None = None,
    polygon: Sequence[Point] | None = None,
    uniform_background: bool = False,
) -> tuple[Image, tuple[int, int]]:
    """The part of `image` inside a normalised bbox or polygon, and its top-left offset.

    A polygon crops to its bounds; the pixels outside it are painted with the region's
    mean colour when `uniform_background` is set, and black otherwise.
    """
    h, w = image.shape[:2]
    if polygon is not None:
        if len(polygon) < 3:
            raise InvalidParameter("a polygon needs at least 3 points")
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        x1, y1, x2, y2 = _box(min(xs), min(ys), max(xs), max(ys), w, h)
        crop = image[y1:y2, x1:x2].copy()
        points = np.array([[x * w - x1, y * h - y1] for x, y in polygon], np.float32)
        inside = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(points).astype(np.int32)], 1)
        fill = crop[inside > 0].mean(axis=0) if uniform_background and inside.any() else 0
        crop[inside == 0] = fill
        return crop, (x1, y1)
    if bbox is not None:
        x1, y1, x2, y2 = _box(*bbox, w, h)
        return image[y1:y2, x1:x2], (x1, y1)
    return image, (0, 0)
