"""inference-sdk's InferenceHTTPClient against the gateway, in v1 and v0 modes.

python inference_snippet.py API_URL KEY SCENE SCENE_2 CROP
"""

import json
import sys

import inference_sdk
from inference_sdk import InferenceConfiguration, InferenceHTTPClient

api_url, key, scene, scene_2, crop = sys.argv[1:6]
client = InferenceHTTPClient(api_url=api_url, api_key=key)
info = client.get_server_info()
report = {
    "sdk": inference_sdk.__version__,
    "info": {"name": info.name, "version": info.version, "uuid": info.uuid},
}
report["registry"] = [m.model_id for m in client.list_loaded_models().models]

report["v1_detect"] = client.infer(scene, model_id="shapes-detect/1")
report["v1_instance"] = client.infer(scene, model_id="shapes-seg/1")
report["v1_classify"] = client.infer(crop, model_id="shapes-cls/1")
report["v1_list"] = client.infer([scene, scene_2], model_id="shapes-detect/1")
with client.use_configuration(InferenceConfiguration(max_batch_size=4, confidence_threshold=0.5)):
    report["v1_batched"] = client.infer([scene, scene_2, scene], model_id="shapes-detect/1")

client.select_api_v0()
report["v0_detect"] = client.infer(scene, model_id="shapes-detect/1")
report["v0_instance"] = client.infer(scene, model_id="shapes-seg/1")
report["v0_semantic"] = client.infer(scene, model_id="shapes-semantic/1")
report["v0_classify"] = client.infer(crop, model_id="shapes-cls/1")

print(json.dumps(report, default=str))
