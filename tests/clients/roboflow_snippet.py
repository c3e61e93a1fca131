"""The roboflow SDK snippet, run unmodified inside a client virtualenv.

    python roboflow_snippet.py KEY SCENE CROP HOSTED_SCENE_URL HOSTED_CROP_URL OUT_DIR LOCAL_URL

The gateway URLs come from API_URL, OBJECT_DETECTION_URL, INSTANCE_SEGMENTATION_URL,
SEMANTIC_SEGMENTATION_URL (and SERVERLESS_URL) set by the caller; classification is
pointed at the gateway with `local=` where the SDK has no variable for it (1.1.x).
Prints one JSON document: each family's `prediction.json()` and saved-image path.
"""

import json
import os
import sys

import roboflow
from roboflow import Roboflow

key, scene, crop, hosted_scene, hosted_crop, out_dir, local = sys.argv[1:8]
legacy = roboflow.__version__.startswith("1.1.")
rf = Roboflow(api_key=key)
workspace = rf.workspace()
report = {"sdk": roboflow.__version__, "workspace": workspace.url}


def save(prediction, name):
    path = os.path.join(out_dir, f"{name}.jpg")
    prediction.save(path)
    return path


model = workspace.project("shapes-detect").version(1).model
report["detect"] = model.predict(scene, confidence=40, overlap=30).json()
report["detect_saved"] = save(model.predict(scene), "detect")
report["detect_hosted"] = model.predict(hosted_scene, hosted=True).json()

model = workspace.project("shapes-seg").version(1).model
report["instance"] = model.predict(scene, confidence=40).json()
report["instance_saved"] = save(model.predict(scene), "instance")
report["instance_hosted"] = model.predict(hosted_scene).json()

model = workspace.project("shapes-semantic").version(1).model
report["semantic"] = model.predict(scene, confidence=40).json()
report["semantic_saved"] = save(model.predict(scene), "semantic")

version = workspace.project("shapes-cls").version(1, local=local if legacy else None)
model = version.model
report["classify"] = model.predict(crop).json()
report["classify_saved"] = save(model.predict(crop), "classify")
report["classify_hosted"] = model.predict(hosted_crop, hosted=True).json()

print(json.dumps(report, default=str))
