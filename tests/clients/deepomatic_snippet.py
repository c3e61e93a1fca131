"""Seed 004's client snippets, unmodified but for the host (DEEPOMATIC_API_URL).

python deepomatic_snippet.py SCENE_URL SCENE_PATH CROP_PATH
"""

import json
import os
import sys
import time

from deepomatic.api.client import Client
from deepomatic.api.inputs import ImageInput

scene_url, scene_path, crop_path = sys.argv[1:4]
client = Client(api_key=os.getenv("DEEPOMATIC_API_KEY"))
report = {"public": [spec["name"] for spec in client.RecognitionSpec.list(public=True)]}

spec = client.RecognitionSpec.retrieve("shapes-detect-v1")
report["labels"] = [
    {"id": label["id"], "name": label["name"]} for label in spec["outputs"][0]["labels"]["labels"]
]
started = time.perf_counter()
report["url"] = spec.inference(inputs=[ImageInput(scene_url)], show_discarded=True)
report["seconds_to_success"] = time.perf_counter() - started
report["file"] = spec.inference(
    inputs=[ImageInput(scene_path, encoding="binary")], show_discarded=True
)
with open(scene_path, "rb") as f:
    report["bytes"] = spec.inference(
        inputs=[ImageInput(f.read(), encoding="binary")], show_discarded=True
    )
task = spec.inference(inputs=[ImageInput(scene_url)], return_task=True, wait_task=False)
task.wait()
report["task"] = {"id": task["id"], "status": task["status"]}

classifier = client.RecognitionSpec.retrieve("shapes-cls-v1")
report["classify"] = classifier.inference(inputs=[ImageInput(crop_path, encoding="binary")])
print(json.dumps(report))
