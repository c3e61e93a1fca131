"""Image -> network input, and the transform that maps network pixels back.

Three resize modes:
- letterbox: keep the aspect ratio, scale to fit, pad evenly with grey 114 (Ultralytics);
- stretch:   scale each axis independently to the input size (Deepomatic's SQUASH);
- crop:      scale the short side to fit, then centre-crop (classification).
The transform is passed explicitly from pre- to post-processing, never recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from gateway.spec import Preprocessing

Image = npt.NDArray[np.uint8]  # (H, W, 3) BGR


@dataclass(frozen=True)
class Transform:
    """Network-input pixel coordinates -> original-image pixel coordinates.

    original = (network - pad) / scale, per axis; the original is width x height.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def xyxy_to_original(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Boxes mapped back and clipped to the original image."""
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, 0::2] = (xyxy[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out

    def points_to_original(self, xy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(M, 2) points mapped back and clipped to the original image."""
        out = np.empty_like(xy, dtype=np.float32)
        out[:, 0] = np.clip((xy[:, 0] - self.pad_x) / self.scale_x, 0, self.width)
        out[:, 1] = np.clip((xy[:, 1] - self.pad_y) / self.scale_y, 0, self.height)
        return out

    def to_original(self, network_map: np.ndarray, interpolation: int, edge: int) -> np.ndarray:
        """A per-pixel map at network resolution, resampled onto the original image.

        Pixel centres are mapped exactly (half-pixel convention); `edge` is OpenCV's
        border mode for original pixels that fall outside the network input.
        """
        sx, sy = self.scale_x, self.scale_y
        original_from_network = np.array(
            [[sx, 0.0, self.pad_x + 0.5 * sx - 0.5], [0.0, sy, self.pad_y + 0.5 * sy - 0.5]]
        )
        return np.asarray(
            cv2.warpAffine(
                network_map,
                original_from_network,
                (self.width, self.height),
                flags=interpolation | cv2.WARP_INVERSE_MAP,
                borderMode=edge,
                borderValue=0,
            )
        )

    def valid_region(self, net_w: int, net_h: int) -> tuple[int, int, int, int]:
        """(x1, y1, x2, y2) of the network input that holds image content, not padding."""
        x1 = max(0, round(self.pad_x))
        y1 = max(0, round(self.pad_y))
        x2 = min(net_w, round(self.pad_x + self.width * self.scale_x))
        y2 = min(net_h, round(self.pad_y + self.height * self.scale_y))
        return x1, y1, x2, y2


def letterbox(
    image: Image, height: int, width: int, pad_value: int = 114
) -> tuple[Image, Transform]:
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    new_w, new_h = round(w * scale), round(h * scale)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    if (new_w, new_h) != (w, h):
        image = cast(Image, cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR))
    canvas = cv2.copyMakeBorder(
        image,
        top,
        height - new_h - top,
        left,
        width - new_w - left,
        cv2.BORDER_CONSTANT,
        value=(pad_value, pad_value, pad_value),
    )
    return cast(Image, canvas), Transform(new_w / w, new_h / h, left, top, w, h)


def stretch(image: Image, height: int, width: int) -> tuple[Image, Transform]:
    h, w = image.shape[:2]
    if (w, h) != (width, height):
        image = cast(Image, cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR))
    return image, Transform(width / w, height / h, 0.0, 0.0, w, h)


def center_crop(image: Image, height: int, width: int) -> tuple[Image, Transform]:
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    if (new_w, new_h) != (w, h):
        image = cast(Image, cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR))
    left, top = (new_w - width) // 2, (new_h - height) // 2
    crop = image[top : top + height, left : left + width]
    return crop, Transform(new_w / w, new_h / h, -left, -top, w, h)


def fit(image: Image, pre: Preprocessing) -> tuple[Image, Transform]:
    """Resize an image to the network's input size as the model expects."""
    if pre.resize_type == "letterbox":
        return letterbox(image, pre.height, pre.width, pre.pad_value)
    if pre.resize_type == "stretch":
        return stretch(image, pre.height, pre.width)
    return center_crop(image, pre.height, pre.width)


def to_tensor(canvases: list[Image], pre: Preprocessing) -> np.ndarray:
    """Fitted BGR images -> one input batch in the model's layout, colour order and dtype."""
    swap = pre.color_channels == "RGB"
    if pre.input_dtype == np.uint8:
        batch = np.stack([c[..., ::-1] if swap else c for c in canvases])
        return batch if pre.dimension_order == "NHWC" else batch.transpose(0, 3, 1, 2).copy()
    # mean and std are in the model's channel order, which is the blob's order.
    mean = tuple(m * pre.pixel_scaling for m in pre.mean)
    blob = np.asarray(
        cv2.dnn.blobFromImages(canvases, 1.0 / pre.pixel_scaling, None, mean, swapRB=swap)  # type: ignore[call-overload]
    )
    if pre.std != (1.0, 1.0, 1.0):
        std = np.asarray(pre.std, dtype=np.float32)
        blob /= std.reshape(1, 3, 1, 1)
    if pre.dimension_order == "NHWC":
        blob = blob.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(blob, dtype=pre.input_dtype)
