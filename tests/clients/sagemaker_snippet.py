"""The seed's boto3 snippets against the gateway (endpoint_url on 127.0.0.1, dummy keys).

python sagemaker_snippet.py ENDPOINT_URL IMAGE OUT_DIR
"""

import json
import os
import sys

import boto3
from botocore.exceptions import ClientError

endpoint_url, image, out_dir = sys.argv[1:4]
client = boto3.client(
    "sagemaker-runtime",
    endpoint_url=endpoint_url,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
with open(image, "rb") as f:
    payload = bytearray(f.read())

report = {"boto3": boto3.__version__}
response = client.invoke_endpoint(
    EndpointName="my-instance-segmentation",
    ContentType="image/jpeg",
    Body=payload,
    CustomAttributes='{"response_type": "json"}',
)
report["json"] = json.loads(response["Body"].read())
report["json_content_type"] = response["ContentType"]
for accept, name in (("image/jpeg", "segmented.jpg"), ("image/png", "segmented.png")):
    response = client.invoke_endpoint(
        EndpointName="my-instance-segmentation",
        Accept=accept,
        ContentType="image/jpeg",
        Body=payload,
    )
    path = os.path.join(out_dir, name)
    with open(path, "wb") as f:
        f.write(response["Body"].read())
    report[accept] = {"path": path, "content_type": response["ContentType"]}
try:
    client.invoke_endpoint(EndpointName="x", ContentType="text/plain", Body=b"hello")
except ClientError as error:  # the container's own status (no SageMaker front to wrap it)
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    report["error"] = {"code": status, "message": str(error)}
print(json.dumps(report))
