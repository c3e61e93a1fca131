"""Procedural "coloured shapes" scenes for training and evaluating the bundled models.

Only numpy and OpenCV are used here (no torch), so benchmarks and tests can import this
module cheaply. Everything is driven by an explicit ``np.random.Generator``; the same
generator state always yields the same scene.

A scene is a textured background (noise, gradients, stripes/checkers, blurred blobs) with
1 to 8 shapes drawn on top of each other (later shapes occlude earlier ones). Shapes vary in
scale, rotation, colour and fill style, and the whole image then gets random lighting
(brightness, contrast, gamma, an illumination gradient), mild blur and noise. Shape colours
are random and independent of the class: the class is only recoverable from the outline.

Occlusion is resolved before anything is drawn: a shape that would keep less than
``MIN_VISIBLE_FRACTION`` of its area (or fewer than ``MIN_VISIBLE_PIXELS`` pixels) visible is
not drawn at all, so no unannotated fragment is ever left in an image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

CLASSES: tuple[str, ...] = ("circle", "triangle", "square", "star")
"""Class names, indexed by class id."""

TRAIN_SEED = 1
"""Seed of the training data."""
HELDOUT_SEED = 20261121
"""Seed of the held-out evaluation scenes (never used for training)."""
EXAMPLES_SEED = 7
"""Seed of the example images under ``models/examples``."""

SCENE_SIDE_RANGE = (240, 640)
"""Inclusive range of scene width and height (drawn independently)."""
MAX_OBJECTS = 8
MIN_OBJECT_PX = 15
"""Smallest object size (diameter of the circumscribed circle), in pixels."""
MIN_OBJECT_FRACTION = 0.05
"""Smallest object size as a fraction of the longer image side (whichever is larger wins)."""
MAX_OBJECT_FRACTION = 0.45
"""Largest object size as a fraction of the longer image side (also capped by the shorter)."""
MIN_VISIBLE_FRACTION = 0.35
MIN_VISIBLE_PIXELS = 80
CROP_SIDE_RANGE = (64, 160)
"""Inclusive range of the classification crop side."""

_MIN_CONTRAST = 60.0
_COLOUR_TRIES = 12


@dataclass(frozen=True)
class Scene:
    """One generated scene with its ground truth.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR image.
        boxes: ``(K, 4)`` float32 ``x1, y1, x2, y2`` pixel boxes of the *visible* extent of each
            object (``x2``/``y2`` are exclusive: max pixel index + 1).
        class_ids: ``(K,)`` int64 class ids, indices into ``CLASSES``.
        masks: ``(K, H, W)`` bool visible (after occlusion) instance masks.
        semantic: ``(H, W)`` uint8 label map, 0 = background, ``1 + class_id`` for shape pixels.
    """

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray
    masks: np.ndarray
    semantic: np.ndarray


@dataclass(frozen=True)
class _Shape:
    """A placed shape: its class and its full (unoccluded) mask."""

    class_id: int
    mask: np.ndarray


# --------------------------------------------------------------------------- geometry


def _unit_polygon(rng: np.random.Generator, class_id: int) -> np.ndarray:
    """Return a ``(P, 2)`` polygon of the class centred on 0 and inside the unit circle."""
    name = CLASSES[class_id]
    if name == "circle":
        angles = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
        aspect = rng.uniform(0.92, 1.0)
        return np.stack([np.cos(angles), aspect * np.sin(angles)], axis=1)
    if name == "triangle":
        angles = np.deg2rad(np.array([90.0, 210.0, 330.0]) + rng.uniform(-8.0, 8.0, 3))
        radii = rng.uniform(0.9, 1.0, 3)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    if name == "square":
        half = 1.0 / np.sqrt(2.0)
        aspect = rng.uniform(0.9, 1.0)
        return np.array(
            [
                [-half, -half * aspect],
                [half, -half * aspect],
                [half, half * aspect],
                [-half, half * aspect],
            ]
        )
    points = 5
    angles = np.pi / 2 + np.arange(2 * points) * np.pi / points
    inner = rng.uniform(0.42, 0.55)
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _place_polygon(unit: np.ndarray, centre: np.ndarray, size: float, angle: float) -> np.ndarray:
    """Scale a unit polygon to diameter ``size``, rotate it by ``angle`` and move it."""
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return unit @ rot.T * (size / 2.0) + centre


def _polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise a polygon (sub-pixel precise vertices) into a bool mask."""
    mask = np.zeros((height, width), np.uint8)
    pts = np.round((polygon - 0.5) * 16.0).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _object_size_range(height: int, width: int) -> tuple[float, float]:
    """Return the (min, max) object size for an image of this size."""
    long_side, short_side = max(height, width), min(height, width)
    low = max(MIN_OBJECT_PX, MIN_OBJECT_FRACTION * long_side)
    high = min(MAX_OBJECT_FRACTION * long_side, 0.9 * short_side)
    return low, max(low, high)


def _random_shape(
    rng: np.random.Generator, height: int, width: int, size: float, centre: np.ndarray | None = None
) -> _Shape:
    """Place a random shape of the given size (random centre keeping it inside the image)."""
    class_id = int(rng.integers(len(CLASSES)))
    if centre is None:
        margin = size / 2.0 + 1.0
        centre = np.array(
            [
                rng.uniform(margin, max(margin, width - margin)),
                rng.uniform(margin, max(margin, height - margin)),
            ]
        )
    polygon = _place_polygon(
        _unit_polygon(rng, class_id), centre, size, rng.uniform(0.0, 2.0 * np.pi)
    )
    return _Shape(class_id, _polygon_mask(polygon, height, width))


def _resolve_occlusion(shapes: list[_Shape]) -> list[int]:
    """Indices (bottom to top) of the shapes that stay sufficiently visible.

    Walks from the topmost shape down; a shape that is too occluded by the shapes kept above it
    is dropped and therefore occludes nothing.
    """
    if not shapes:
        return []
    covered = np.zeros_like(shapes[0].mask)
    kept: list[int] = []
    for index in range(len(shapes) - 1, -1, -1):
        full = shapes[index].mask
        area = int(full.sum())
        visible = int(np.count_nonzero(full & ~covered))
        if visible >= MIN_VISIBLE_PIXELS and visible >= MIN_VISIBLE_FRACTION * area:
            kept.append(index)
            covered |= full
    return kept[::-1]


# --------------------------------------------------------------------------- backgrounds


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random BGR colour as float32."""
    return rng.uniform(0.0, 255.0, 3).astype(np.float32)


def _ramp(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear ramp in [-0.5, 0.5] along a random direction, shape ``(H, W)``."""
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = xs * np.cos(angle) + ys * np.sin(angle)
    span = float(proj.max() - proj.min()) or 1.0
    return (proj - proj.min()) / span - 0.5


def _bg_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth value noise around a base colour."""
    cells = int(rng.integers(3, 12))
    small = rng.normal(0.0, 1.0, (cells, cells, 3)).astype(np.float32)
    noise = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return _random_colour(rng) + noise * rng.uniform(8.0, 35.0)


def _bg_gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear gradient between two colours."""
    ramp = _ramp(rng, height, width)[..., None] + 0.5
    start, end = _random_colour(rng), _random_colour(rng)
    return start + (end - start) * ramp


def _bg_stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Low-contrast stripes or a checkerboard at a random angle and period."""
    base = _random_colour(rng)
    other = base + rng.uniform(-45.0, 45.0, 3).astype(np.float32)
    period = rng.uniform(6.0, 40.0)
    angle = rng.uniform(0.0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = xs * np.cos(angle) + ys * np.sin(angle)
    wave = np.sin(2.0 * np.pi * u / period)
    if rng.random() < 0.5:
        v = -xs * np.sin(angle) + ys * np.cos(angle)
        wave = wave * np.sin(2.0 * np.pi * v / period)
    if rng.random() < 0.5:
        wave = np.sign(wave)
    weight = (wave[..., None] + 1.0) / 2.0
    return base + (other - base) * weight


def _bg_blobs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Heavily blurred random ellipses (no crisp outlines), drawn at quarter resolution."""
    small_h, small_w = max(8, height // 4), max(8, width // 4)
    canvas = np.empty((small_h, small_w, 3), np.float32)
    canvas[:] = _random_colour(rng)
    for _ in range(int(rng.integers(4, 14))):
        centre = (int(rng.integers(small_w)), int(rng.integers(small_h)))
        axes = (
            int(rng.integers(3, max(4, small_w // 3))),
            int(rng.integers(3, max(4, small_h // 3))),
        )
        cv2.ellipse(
            canvas,
            centre,
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            _random_colour(rng).tolist(),
            -1,
        )
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(2.5, 6.0))
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)


_BACKGROUNDS: tuple[Callable[[np.random.Generator, int, int], np.ndarray], ...] = (
    _bg_noise,
    _bg_gradient,
    _bg_stripes,
    _bg_blobs,
)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A float32 ``(H, W, 3)`` textured background: one or two blended texture types."""
    first = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))](rng, height, width)
    if rng.random() < 0.4:
        second = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))](rng, height, width)
        alpha = rng.uniform(0.3, 0.7)
        first = first * alpha + second * (1.0 - alpha)
    grain = rng.standard_normal((height, width, 1), dtype=np.float32) * rng.uniform(0.0, 6.0)
    return np.clip(first + grain, 0.0, 255.0).astype(np.float32)


# --------------------------------------------------------------------------- drawing


def _pick_colour(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A random colour that contrasts with the canvas just outside the mask's boundary."""
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
    around = canvas[ring] if ring.any() else canvas.reshape(-1, 3)
    best, best_score = _random_colour(rng), -1.0
    for _ in range(_COLOUR_TRIES):
        colour = _random_colour(rng)
        distances = np.linalg.norm(around - colour, axis=1)
        score = float(np.percentile(distances, 10))
        if score > best_score:
            best, best_score = colour, score
        if score >= _MIN_CONTRAST:
            break
    return best


def _fill(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray) -> None:
    """Paint a shape in place: contrasting colour, optional gradient/texture and outline."""
    colour = _pick_colour(rng, canvas, mask)
    ys, xs = np.nonzero(mask)
    pixels = np.broadcast_to(colour, (len(ys), 3)).astype(np.float32)
    style = rng.random()
    if style < 0.25:
        ramp = _ramp(rng, *mask.shape)[ys, xs][:, None]
        pixels = pixels + ramp * rng.uniform(-50.0, 50.0, 3).astype(np.float32)
    elif style < 0.45:
        pixels = pixels + rng.normal(0.0, rng.uniform(3.0, 10.0), (len(ys), 1))
    canvas[ys, xs] = np.clip(pixels, 0.0, 255.0)
    if rng.random() < 0.3:
        thickness = int(rng.integers(1, 4))
        inner = cv2.erode(
            mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=thickness
        ).astype(bool)
        edge = mask & ~inner
        shade = 0.55 if colour.mean() > 100 else 1.6
        canvas[edge] = np.clip(colour * shade + (0 if shade < 1 else 30), 0.0, 255.0)


def _lighting(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Random contrast/brightness, illumination gradient, gamma, blur and noise -> uint8."""
    height, width = image.shape[:2]
    contrast = rng.uniform(0.75, 1.25)
    out = image * contrast + (128.0 * (1.0 - contrast) + rng.uniform(-30.0, 30.0))
    out *= (1.0 + rng.uniform(-0.4, 0.4) * _ramp(rng, height, width))[..., None]
    out_u8 = np.clip(np.round(out), 0, 255).astype(np.uint8)
    gamma_lut = 255.0 * (np.arange(256) / 255.0) ** rng.uniform(0.7, 1.4)
    out_u8 = cv2.LUT(out_u8, np.round(gamma_lut).astype(np.uint8))
    if rng.random() < 0.5:
        out_u8 = cv2.GaussianBlur(out_u8, (0, 0), rng.uniform(0.3, 1.0))
    sigma = rng.uniform(0.0, 7.0)
    noise = rng.standard_normal(out_u8.shape, dtype=np.float32) * sigma
    return np.clip(np.round(out_u8 + noise), 0, 255).astype(np.uint8)


def _visible_masks(shapes: list[_Shape]) -> np.ndarray:
    """``(K, H, W)`` visible masks of shapes drawn bottom to top."""
    visible = np.zeros((len(shapes), *shapes[0].mask.shape), bool)
    covered = np.zeros(shapes[0].mask.shape, bool)
    for index in range(len(shapes) - 1, -1, -1):
        visible[index] = shapes[index].mask & ~covered
        covered |= shapes[index].mask
    return visible


def _visible_box(mask: np.ndarray) -> np.ndarray:
    """Exact ``x1, y1, x2, y2`` (exclusive max) box of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


# --------------------------------------------------------------------------- public API


def make_scene(rng: np.random.Generator) -> Scene:
    """Generate one random scene (1 to ``MAX_OBJECTS`` objects before occlusion culling).

    Width and height are drawn independently from ``SCENE_SIDE_RANGE``. Objects are drawn in
    order, each on top of the previous ones; objects left less than 35 % (or fewer than 80
    pixels) visible are neither drawn nor annotated, so every scene has at least one object.
    """
    height, width = (int(v) for v in rng.integers(SCENE_SIDE_RANGE[0], SCENE_SIDE_RANGE[1] + 1, 2))
    canvas = _background(rng, height, width)
    low, high = _object_size_range(height, width)
    kept: list[_Shape] = []
    while not kept:
        count = int(rng.integers(1, MAX_OBJECTS + 1))
        shapes = [_random_shape(rng, height, width, rng.uniform(low, high)) for _ in range(count)]
        kept = [shapes[i] for i in _resolve_occlusion(shapes)]
    semantic = np.zeros((height, width), np.uint8)
    for shape in kept:
        _fill(rng, canvas, shape.mask)
        semantic[shape.mask] = shape.class_id + 1
    masks = _visible_masks(kept)
    boxes = np.stack([_visible_box(m) for m in masks]).astype(np.float32)
    class_ids = np.array([s.class_id for s in kept], np.int64)
    return Scene(_lighting(rng, canvas), boxes, class_ids, masks, semantic)


def make_crop(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Generate a classification crop: ``(image, class_id)``.

    The image is a square-ish uint8 BGR crop (sides in ``CROP_SIDE_RANGE``) on a textured
    background, dominated by one centred shape of the returned class (55-90 % of the shorter
    side); half of the crops also show a small distractor shape cut by the frame, beneath it.
    """
    side = int(rng.integers(CROP_SIDE_RANGE[0], CROP_SIDE_RANGE[1] + 1))
    other = int(np.clip(round(side * rng.uniform(0.9, 1.1)), *CROP_SIDE_RANGE))
    height, width = (side, other) if rng.random() < 0.5 else (other, side)
    short = min(height, width)
    canvas = _background(rng, height, width)
    if rng.random() < 0.5:
        size = short * rng.uniform(0.2, 0.4)
        corner = np.array([rng.choice([0.0, width]), rng.choice([0.0, height])])
        inward = np.sign(np.array([width, height]) / 2.0 - corner)
        centre = corner + inward * rng.uniform(0.0, 0.25, 2) * size
        _fill(rng, canvas, _random_shape(rng, height, width, size, centre).mask)
    size = short * rng.uniform(0.55, 0.9)
    jitter = rng.uniform(-0.08, 0.08, 2) * short
    centre = np.array([width / 2.0, height / 2.0]) + jitter
    shape = _random_shape(rng, height, width, size, centre)
    _fill(rng, canvas, shape.mask)
    return _lighting(rng, canvas), shape.class_id


def generate_scenes(seed: int, count: int) -> list[Scene]:
    """``count`` scenes from one generator seeded with ``seed`` (the held-out protocol)."""
    rng = np.random.default_rng(seed)
    return [make_scene(rng) for _ in range(count)]
