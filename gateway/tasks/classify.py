"""Classification, exclusive (softmax) or multi-label (independent sigmoid scores)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gateway.params import InferenceParams
from gateway.preprocess import Transform
from gateway.results import Classification, Result
from gateway.tasks import HeadlessTask


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class ClassifyTask(HeadlessTask):
    """Class scores; the output is small, so no head is appended."""

    def postprocess(
        self,
        outputs: Mapping[str, np.ndarray],
        index: int,
        transform: Transform,
        params: InferenceParams,
    ) -> Result:
        scores = outputs[self.spec.output][index : index + 1].astype(np.float32)
        if self.spec.activation == "softmax":
            scores = softmax(scores)
        elif self.spec.activation == "sigmoid":
            scores = sigmoid(scores)
        return Classification(scores[0], self.spec.class_names, self.spec.multi_label)
