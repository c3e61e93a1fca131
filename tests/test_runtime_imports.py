"""The runtime never imports torch (only models/training does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
import sys
import numpy as np
from tests.layouts import make_model, save, ultralytics_metadata, write_config
from pathlib import Path
import tempfile
import gateway.app, gateway.cli, gateway.server
from gateway.model import Model
from gateway.modelconfig import load_model_configs
from gateway.params import InferenceParams

tmp = Path(tempfile.mkdtemp())
raw = np.zeros((1, 6, 4))
mask = np.zeros((1, 6, 1)); mask[0, 4:] = 1
save(make_model({"output0": (raw, mask)}, ultralytics_metadata(["a", "b"], "detect", (64, 64)),
                imgsz=(64, 64)), tmp / "m.onnx")
(config,) = load_model_configs(write_config(tmp, [{"id": "p/1", "path": "m.onnx"}]))
Model.load(config).predict([np.zeros((10, 10, 3), np.uint8)], InferenceParams())
print(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision"}))
"""


def test_runtime_does_not_import_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
