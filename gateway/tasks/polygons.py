"""Instance mask logits at prototype resolution -> one valid polygon per detection.

The mask is never upsampled to full resolution: only the window of prototypes under
the detection's box is upsampled to network-input resolution (the same bilinear,
half-pixel-centre sampling as upsampling the whole mask), thresholded, cropped to the
box, contoured there, and the contour is mapped to original pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, MultiPoint, Polygon, box
from shapely.geometry.base import BaseGeometry

from gateway.preprocess import Transform

FloatArray = npt.NDArray[np.float32]
EMPTY = np.zeros((0, 2), dtype=np.float32)
SIMPLIFY_TOLERANCE = 0.5  # network-input pixels


def _largest_polygon(geometry: BaseGeometry) -> Polygon | None:
    parts = getattr(geometry, "geoms", [geometry])
    polygons = [g for g in parts if isinstance(g, Polygon) and not g.is_empty]
    return max(polygons, key=lambda g: g.area) if polygons else None


def _outline(points: FloatArray) -> BaseGeometry:
    """Pixel-centre contour -> the outline of those pixels (half a pixel further out)."""
    shape: BaseGeometry
    if len(points) >= 3:
        shape = Polygon(points)
        if not shape.is_valid:
            shape = shapely.make_valid(shape)
    elif len(points) == 2:
        shape = LineString(points)
    else:
        shape = MultiPoint(points)
    return shape.buffer(0.5, cap_style="square", join_style="mitre")


def mask_to_polygon(
    logits: FloatArray,
    xyxy: FloatArray,
    net_size: tuple[int, int],
    transform: Transform,
) -> FloatArray:
    """The largest outer contour of a detection's mask, as (M, 2) original-image points.

    logits: (mh, mw) mask logits; xyxy: the box in network-input pixels;
    net_size: (height, width) of the network input. Empty (0, 2) when nothing is left.
    """
    mh, mw = logits.shape
    net_h, net_w = net_size
    rx, ry = net_w / mw, net_h / mh
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    # Prototype window under the box, one prototype of margin so that bilinear
    # samples near the box edge see their true neighbours.
    px1, py1 = max(math.floor(x1 / rx) - 1, 0), max(math.floor(y1 / ry) - 1, 0)
    px2, py2 = min(math.ceil(x2 / rx) + 1, mw), min(math.ceil(y2 / ry) + 1, mh)
    if px2 <= px1 or py2 <= py1:
        return EMPTY
    window = np.ascontiguousarray(logits[py1:py2, px1:px2])
    size = (round((px2 - px1) * rx), round((py2 - py1) * ry))
    upsampled = cv2.resize(window, size, interpolation=cv2.INTER_LINEAR)
    ox, oy = px1 * rx, py1 * ry  # network coordinates of upsampled[0, 0]
    binary = (upsampled > 0).astype(np.uint8)
    # Keep pixels whose index lies in [x1, x2) x [y1, y2) (crop to the box).
    cx1, cy1 = max(math.ceil(x1 - ox), 0), max(math.ceil(y1 - oy), 0)
    cx2, cy2 = max(math.ceil(x2 - ox), 0), max(math.ceil(y2 - oy), 0)
    binary[:cy1] = 0
    binary[cy2:] = 0
    binary[:, :cx1] = 0
    binary[:, cx2:] = 0
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return EMPTY
    contour = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    # Simplified first (Douglas-Peucker in C, on pixel-centre integers): the geometry
    # work below then handles a dozen or two vertices, not every step of the contour.
    contour = cv2.approxPolyDP(contour, SIMPLIFY_TOLERANCE, closed=True)
    points = contour[:, 0, :].astype(np.float32) + np.array([ox + 0.5, oy + 0.5], dtype=np.float32)
    outline = _outline(points)
    region = transform.valid_region(net_w, net_h)
    if not _inside(outline.bounds, region):  # reaches into the letterbox padding
        outline = outline.intersection(box(*region))
    polygon = _largest_polygon(outline)
    if polygon is None:
        return EMPTY
    coords = shapely.get_coordinates(polygon.exterior)[:-1].astype(np.float32)
    return transform.points_to_original(coords)


def _inside(bounds: tuple[float, float, float, float], region: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = bounds
    return x1 >= region[0] and y1 >= region[1] and x2 <= region[2] and y2 <= region[3]
