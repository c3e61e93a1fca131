"""Drawing results over the image: boxes, polygons, labels, class maps, class names."""

from __future__ import annotations

import cv2
import numpy as np

from gateway.errors import GatewayError
from gateway.images import Image
from gateway.results import Classification, Detections, Result, SemanticMask

# Distinct, saturated BGR colours; class i uses PALETTE[i % len(PALETTE)].
PALETTE = np.array(
    [
        (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
        (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
        (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
        (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
    ],
    dtype=np.uint8,
)  # fmt: skip
FONT = cv2.FONT_HERSHEY_SIMPLEX


def colour(class_id: int) -> tuple[int, int, int]:
    b, g, r = PALETTE[class_id % len(PALETTE)].tolist()
    return int(b), int(g), int(r)


def _label(canvas: Image, text: str, x: int, y: int, bgr: tuple[int, int, int]) -> None:
    scale = max(0.4, min(canvas.shape[:2]) / 900)
    (w, h), baseline = cv2.getTextSize(text, FONT, scale, 1)
    top = max(y - h - baseline - 2, 0)
    cv2.rectangle(canvas, (x, top), (x + w + 4, top + h + baseline + 2), bgr, -1)
    cv2.putText(canvas, text, (x + 2, top + h + 1), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _detections(
    canvas: Image, result: Detections, stroke: int, labels: bool, by_instance: bool
) -> None:
    colours = [colour(i if by_instance else int(c)) for i, c in enumerate(result.class_id)]
    if result.polygons is not None:
        # Masks are filled at full resolution from their outlines, so they sit on the objects.
        overlay = canvas.copy()
        for bgr, points in zip(colours, result.polygons, strict=True):
            if len(points) >= 3:
                cv2.fillPoly(overlay, [np.round(points).astype(np.int32)], bgr, cv2.LINE_AA)
        cv2.addWeighted(overlay, 0.45, canvas, 0.55, 0, dst=canvas)
    names = result.names()
    for i, (x1, y1, x2, y2) in enumerate(np.round(result.xyxy).astype(int).tolist()):
        bgr = colours[i]
        if result.polygons is not None and len(result.polygons[i]) >= 3:
            points = np.round(result.polygons[i]).astype(np.int32)
            cv2.polylines(canvas, [points], True, bgr, stroke, cv2.LINE_AA)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), bgr, stroke)
        if labels:
            _label(canvas, f"{names[i]} {result.confidence[i]:.2f}", x1, y1, bgr)


def _semantic(canvas: Image, result: SemanticMask, labels: bool) -> None:
    colours = np.zeros((256, 3), np.uint8)
    for i in range(1, len(result.class_names)):
        colours[i] = colour(i)
    painted = colours[result.class_map]
    foreground = result.class_map > 0
    blended = cv2.addWeighted(canvas, 0.5, painted, 0.5, 0)
    canvas[foreground] = blended[foreground]
    if labels:
        present = [int(c) for c in np.unique(result.class_map) if c > 0]
        for row, class_id in enumerate(present):
            _label(canvas, result.class_names[class_id], 4, 24 + 22 * row, colour(class_id))


def annotate(
    image: Image, result: Result, stroke: int = 1, labels: bool = False, by_instance: bool = False
) -> Image:
    """A copy of `image` with `result` drawn over it.

    Detections are coloured by class, or each in its own colour with `by_instance`.
    """
    canvas = image.copy()
    if isinstance(result, Detections):
        _detections(canvas, result, stroke, labels, by_instance)
    elif isinstance(result, SemanticMask):
        _semantic(canvas, result, labels)
    elif isinstance(result, Classification):
        class_id, confidence = result.ranked()[0]
        _label(canvas, f"{result.class_names[class_id]} {confidence:.2f}", 4, 24, colour(class_id))
    return canvas


def encode(image: Image, fmt: str = ".jpg", quality: int = 90) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else []
    ok, data = cv2.imencode(fmt, image, params)
    if not ok:
        raise GatewayError(f"could not encode the annotated image as {fmt}")
    return data.tobytes()
