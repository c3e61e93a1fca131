"""OpenAPI section: Roboflow Inference server v1 (inference-sdk)."""

from __future__ import annotations

from gateway.dialects.openapi.schema import (
    BOOLEAN,
    INTEGER,
    JSON,
    NUMBER,
    PROJECT_TYPE,
    QUERY_OR_BEARER,
    PathItem,
    Schema,
    Security,
    array,
    body,
    content,
    errors,
    obj,
    ok,
    operation,
    path,
    ref,
    string,
)


def inference_server_schemas() -> dict[str, Schema]:
    image = obj(
        {
            "type": string(enum=["base64", "url"], default="base64"),
            "value": string("Base64 image bytes, or an http(s) URL"),
        },
        ["value"],
    )
    return {
        "RegisteredModel": obj(
            {
                "model_id": string(),
                "task_type": PROJECT_TYPE,
                "batch_size": {"anyOf": [INTEGER, string(const="batch")]},
                "input_height": INTEGER,
                "input_width": INTEGER,
            },
            ["model_id", "task_type"],
        ),
        "ModelRegistry": obj({"models": array(ref("RegisteredModel"))}, ["models"]),
        "ModelAddRequest": obj(
            {"model_id": string(examples=["shapes-detect/1"]), "api_key": string()},
            ["model_id"],
        ),
        "InferImage": image,
        "InferRequest": obj(
            {
                "model_id": string("`project/version`", examples=["shapes-detect/1"]),
                "api_key": string("The key; else ?api_key= or a Bearer token"),
                "image": {
                    "anyOf": [
                        ref("InferImage"),
                        array(ref("InferImage"), minItems=1, maxItems=32),
                    ],
                    "description": "One image, or a list predicted in one run",
                },
                "confidence": {**NUMBER, "minimum": 0, "maximum": 1},
                "iou_threshold": {**NUMBER, "minimum": 0, "maximum": 1},
                "class_agnostic_nms": BOOLEAN,
                "class_filter": array(string()),
                "max_detections": {**INTEGER, "minimum": 1, "maximum": 10000},
            },
            ["model_id", "image"],
        ),
    }


# -- paths: Roboflow Inference server v1 ----------------------------------------------


def inference_server_paths() -> dict[str, PathItem]:
    tag = "inference-server"
    key_optional: Security = [*QUERY_OR_BEARER, {}]  # or `api_key` in the JSON body
    tasks = ["object_detection", "instance_segmentation", "classification", "semantic_segmentation"]
    return {
        "/model/registry": {
            "get": operation(
                "modelRegistry",
                "The models, as inference-sdk lists them",
                tag,
                ok("The registry", ref("ModelRegistry")),
            )
        },
        "/model/add": {
            "post": operation(
                "modelAdd",
                "Check that a model is served (models load at start-up)",
                tag,
                {
                    **ok("The registry", ref("ModelRegistry")),
                    **errors("Message", 400, 401, 403, 404, 408, 413),
                },
                request_body=body("The model", content((JSON, ref("ModelAddRequest")))),
                security=key_optional,
            )
        },
        "/infer/{task}": {
            "post": operation(
                "infer",
                "Predict one image, or a list in one session run",
                tag,
                {
                    **ok(
                        "One result, or a list for a list of images",
                        {"anyOf": [ref("InferenceResult"), array(ref("InferenceResult"))]},
                    ),
                    **errors("Message", 400, 401, 403, 404, 408, 413, 503),
                },
                parameters=[path("task", "The model's task", string(enum=tasks))],
                request_body=body("The request", content((JSON, ref("InferRequest")))),
                security=key_optional,
            )
        },
    }
