"""Foreground matting: an opacity map [B, 1, H, W] (probabilities, or logits with
`activation: sigmoid`) resized smoothly back to the original image."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from gateway.params import InferenceParams
from gateway.preprocess import Transform
from gateway.results import Matte, Result
from gateway.tasks import HeadlessTask


class MattingTask(HeadlessTask):
    """Bilinear resampling of the matte to original pixels, padding removed."""

    def postprocess(
        self,
        outputs: Mapping[str, np.ndarray],
        transforms: list[Transform],
        params: InferenceParams,
    ) -> list[Result]:
        mattes = outputs[self.spec.output].astype(np.float32)[:, 0]
        if self.spec.activation == "sigmoid":
            mattes = (1.0 / (1.0 + np.exp(-mattes))).astype(np.float32)
        results: list[Result] = []
        for matte, transform in zip(mattes, transforms, strict=True):
            full = transform.to_original(matte, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
            alpha = np.clip(np.rint(full * 255.0), 0, 255).astype(np.uint8)
            results.append(Matte(alpha))
        return results
