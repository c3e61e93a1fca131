"""Pre-processing (Ultralytics-style letterbox) and in-memory training sets (numpy + cv2 only).

The letterbox here is exactly what the exported models expect: scale ``r = min(S/h, S/w)``,
resize to ``(round(w*r), round(h*r))`` with ``cv2.INTER_LINEAR``, pad evenly on both sides
(left = ``(S - new_w) // 2``, top = ``(S - new_h) // 2``) with value 114; then RGB, 0..1, NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing import get_context

import cv2
import numpy as np

from models.training import scenes

IMGSZ = 320
"""Input side of the detect, segment and semantic models."""
CLS_IMGSZ = 96
"""Input side of the classifier."""
PAD_VALUE = 114
PROTO_STRIDE = 4
"""Mask prototypes are at 1/4 of the input resolution."""


@dataclass(frozen=True)
class Letterbox:
    """Geometry of one letterbox transform."""

    ratio: float
    left: int
    top: int
    new_width: int
    new_height: int

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Original-image ``xyxy`` boxes -> letterboxed input coordinates."""
        offset = np.array([self.left, self.top, self.left, self.top], np.float32)
        return boxes.astype(np.float32) * self.ratio + offset

    def boxes_to_image(self, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
        """Letterboxed ``xyxy`` boxes -> original-image coordinates, clipped to the image."""
        offset = np.array([self.left, self.top, self.left, self.top], np.float32)
        out = (boxes.astype(np.float32) - offset) / self.ratio
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out

    def map_to_image(
        self, values: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_LINEAR
    ) -> np.ndarray:
        """Crop the padding off an input-resolution map ``(S, S[, C])`` and resize it back."""
        inner = values[
            self.top : self.top + self.new_height, self.left : self.left + self.new_width
        ]
        return cv2.resize(inner, (width, height), interpolation=interpolation)


def letterbox_geometry(height: int, width: int, size: int = IMGSZ) -> Letterbox:
    """The letterbox transform for an image of ``height`` x ``width``."""
    ratio = min(size / height, size / width)
    new_width, new_height = round(width * ratio), round(height * ratio)
    return Letterbox(
        ratio, (size - new_width) // 2, (size - new_height) // 2, new_width, new_height
    )


def letterbox(image: np.ndarray, size: int = IMGSZ) -> tuple[np.ndarray, Letterbox]:
    """Letterbox a ``(H, W, 3)`` uint8 image into ``(size, size, 3)``."""
    geometry = letterbox_geometry(image.shape[0], image.shape[1], size)
    return _paste(image, geometry, size, PAD_VALUE, cv2.INTER_LINEAR), geometry


def _paste(
    values: np.ndarray, geometry: Letterbox, size: int, fill: float, interpolation: int
) -> np.ndarray:
    """Resize ``values`` into the letterbox window of a ``size`` canvas filled with ``fill``."""
    new_size = (geometry.new_width, geometry.new_height)
    resized = (
        values
        if values.shape[1::-1] == new_size
        else cv2.resize(values, new_size, interpolation=interpolation)
    )
    out = np.full((size, size, *values.shape[2:]), fill, values.dtype)
    out[
        geometry.top : geometry.top + geometry.new_height,
        geometry.left : geometry.left + geometry.new_width,
    ] = resized
    return out


def to_input(images: np.ndarray) -> np.ndarray:
    """``(B, H, W, 3)`` uint8 BGR -> ``(B, 3, H, W)`` float32 RGB in 0..1."""
    return np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2), np.float32) / 255.0


def classify_preprocess(image: np.ndarray, size: int = CLS_IMGSZ) -> np.ndarray:
    """Resize the shortest side to ``size`` and centre-crop: ``(size, size, 3)`` uint8 BGR."""
    height, width = image.shape[:2]
    ratio = size / min(height, width)
    new_width, new_height = max(size, round(width * ratio)), max(size, round(height * ratio))
    resized = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return resized[top : top + size, left : left + size]


def instance_masks_to_proto(
    masks: np.ndarray, geometry: Letterbox, size: int = IMGSZ
) -> np.ndarray:
    """``(K, H, W)`` bool masks -> ``(K, S/4, S/4)`` uint8 soft coverage (0..255) masks."""
    proto = size // PROTO_STRIDE
    out = np.zeros((len(masks), proto, proto), np.uint8)
    for index, mask in enumerate(masks):
        full = _paste(mask.astype(np.float32), geometry, size, 0.0, cv2.INTER_AREA)
        small = cv2.resize(full, (proto, proto), interpolation=cv2.INTER_AREA)
        out[index] = np.round(small * 255.0).astype(np.uint8)
    return out


def semantic_to_input(semantic: np.ndarray, geometry: Letterbox, size: int = IMGSZ) -> np.ndarray:
    """Letterbox a label map with nearest-neighbour resizing; the padding is background."""
    return _paste(semantic, geometry, size, 0, cv2.INTER_NEAREST)


@dataclass
class SceneSet:
    """Letterboxed scenes with their targets in input coordinates."""

    images: np.ndarray
    """``(N, S, S, 3)`` uint8 BGR."""
    boxes: list[np.ndarray]
    """Per image ``(K, 4)`` float32 ``xyxy`` in input pixels."""
    class_ids: list[np.ndarray]
    """Per image ``(K,)`` int64."""
    masks: list[np.ndarray]
    """Per image ``(K, S/4, S/4)`` uint8 soft visible masks."""
    semantic: np.ndarray | None
    """``(N, S, S)`` uint8 label maps (only when requested)."""


def _prepare_scene(args: tuple[int, int, int, bool]) -> tuple[np.ndarray, ...]:
    """Generate scene ``index`` of ``seed`` and convert it to training targets."""
    seed, index, size, with_semantic = args
    scene = scenes.make_scene(np.random.default_rng([seed, index]))
    image, geometry = letterbox(scene.image, size)
    semantic = (
        semantic_to_input(scene.semantic, geometry, size)
        if with_semantic
        else np.zeros((0,), np.uint8)
    )
    return (
        image,
        geometry.boxes_to_input(scene.boxes),
        scene.class_ids,
        instance_masks_to_proto(scene.masks, geometry, size),
        semantic,
    )


def build_scene_set(
    seed: int,
    count: int,
    size: int = IMGSZ,
    with_semantic: bool = False,
    workers: int = 2,
    offset: int = 0,
) -> SceneSet:
    """Generate scenes ``offset .. offset + count - 1`` (scene ``i`` uses
    ``default_rng([seed, i])``) in parallel."""
    jobs = [(seed, index, size, with_semantic) for index in range(offset, offset + count)]
    with get_context("fork").Pool(workers) as pool:
        items = pool.map(_prepare_scene, jobs, chunksize=64)
    return SceneSet(
        images=np.stack([item[0] for item in items]),
        boxes=[item[1] for item in items],
        class_ids=[item[2] for item in items],
        masks=[item[3] for item in items],
        semantic=np.stack([item[4] for item in items]) if with_semantic else None,
    )


def _prepare_crop(args: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """Generate crop ``index`` of ``seed``, pre-processed for the classifier."""
    seed, index, size = args
    image, class_id = scenes.make_crop(np.random.default_rng([seed, index]))
    return classify_preprocess(image, size), class_id


def build_crop_set(
    seed: int, count: int, size: int = CLS_IMGSZ, workers: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pre-processed crops ``(N, S, S, 3)`` uint8 BGR and labels ``(N,)`` int64."""
    jobs = [(seed, index, size) for index in range(count)]
    with get_context("fork").Pool(workers) as pool:
        items = pool.map(_prepare_crop, jobs, chunksize=256)
    return (np.stack([item[0] for item in items]), np.array([item[1] for item in items], np.int64))


def dihedral_boxes(
    boxes: np.ndarray, size: int, flip_x: bool, flip_y: bool, transpose: bool
) -> np.ndarray:
    """Apply a flip/transpose (in that order) of a ``size`` square to ``xyxy`` boxes."""
    out = boxes.copy()
    if flip_x:
        out[:, [0, 2]] = size - boxes[:, [2, 0]]
    if flip_y:
        out[:, [1, 3]] = size - boxes[:, [3, 1]]
    if transpose:
        out = out[:, [1, 0, 3, 2]]
    return out


def dihedral_array(values: np.ndarray, flip_x: bool, flip_y: bool, transpose: bool) -> np.ndarray:
    """Apply the same flip/transpose to an array whose last two spatial axes are (y, x).

    ``values`` is ``(..., H, W)``; use ``np.moveaxis`` for channel-last images.
    """
    out = values
    if flip_x:
        out = out[..., ::-1]
    if flip_y:
        out = out[..., ::-1, :]
    if transpose:
        out = np.swapaxes(out, -1, -2)
    return np.ascontiguousarray(out)
