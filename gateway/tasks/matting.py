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
        index: int,
        transform: Transform,
        params: InferenceParams,
    ) -> Result:
        matte = outputs[self.spec.output][index, 0].astype(np.float32)
        if self.spec.activation == "sigmoid":
            matte = (1.0 / (1.0 + np.exp(-matte))).astype(np.float32)
        full = transform.to_original(matte, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
        return Matte(np.clip(np.rint(full * 255.0), 0, 255).astype(np.uint8))
