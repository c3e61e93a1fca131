"""The OpenAPI 3.1 description of every route the gateway mounts: GET /openapi.json.

The document is built once from the small helpers below, one section per dialect:
service, Roboflow hosted routes and the roboflow SDK's bootstrap, Roboflow Inference
server v1 (inference-sdk), SageMaker, matting and Deepomatic v0.7. Each dialect keeps its
own error shape: `{"message"}` (Roboflow, inference-sdk, SageMaker, routing errors),
`{"error"}` (matting; Deepomatic's 400s) and `{"detail"}` (Deepomatic's other errors).
tests/test_openapi.py checks that every mounted route is described here, and fuzzes
the app through this document with schemathesis.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__

Schema = dict[str, Any]
Operation = dict[str, Any]
PathItem = dict[str, Operation]

JSON = "application/json"
PATH = "/openapi.json"

STATUS_TEXT = {
    400: "Bad request: a malformed parameter, body or image, or a model of the wrong task",
    401: "No API key, or one the gateway does not know",
    403: "The API key may not use this model",
    404: "No such model, workspace, spec, version or task",
    406: "The Accept header allows no response type the route produces",
    408: "The request body did not arrive in time",
    413: "The body (or the image fetched for it) is over its size limit",
    415: "The body's Content-Type is not one the route reads",
    503: "Overloaded or not ready: retry after the Retry-After seconds",
}

# Key locations. Which of them a route reads is listed in each operation's `security`.
SECURITY_SCHEMES: dict[str, Schema] = {
    "ApiKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "A gateway API key (configs/keys.yaml or GATEWAY_API_KEYS).",
    },
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A gateway API key as `Authorization: Bearer <key>`.",
    },
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-KEY",
        "description": "A gateway API key in X-API-KEY (Deepomatic client, matting).",
    },
}
Security = list[dict[str, list[str]]]
QUERY_OR_BEARER: Security = [{"ApiKeyQuery": []}, {"BearerAuth": []}]
HEADER_OR_QUERY: Security = [{"ApiKeyHeader": []}, {"ApiKeyQuery": []}]
ANY_KEY: Security = [{"ApiKeyHeader": []}, {"BearerAuth": []}, {"ApiKeyQuery": []}]


# -- schema helpers -------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: Mapping[str, Schema], required: Iterable[str] = (), description: str = ""
) -> Schema:
    """An object with these properties; further properties are allowed."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def string(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


NUMBER: Schema = {"type": "number"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
BINARY: Schema = {"type": "string", "format": "binary"}


def segment(*shadowed: str) -> Schema:
    """One path segment (Starlette's `[^/]+`, not `.` or `..`), none of `shadowed`: the
    first segments of fixed routes that answer such a path before the template does."""
    excluded = "|".join(["\\.{1,2}", *(name.replace(".", "\\.") for name in shadowed)])
    return {"type": "string", "pattern": f"^(?!(?:{excluded})$)[^/]+$"}


SEGMENT = segment()
PROJECT_TYPE = string(
    enum=["object-detection", "instance-segmentation", "semantic-segmentation", "classification"]
)


# -- parameters, bodies, responses ----------------------------------------------------


def parameter(
    name: str, where: str, schema: Schema, description: str, required: bool = False
) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


def query(name: str, schema: Schema, description: str) -> Schema:
    return parameter(name, "query", schema, description)


def path(name: str, description: str, schema: Schema = SEGMENT) -> Schema:
    return parameter(name, "path", schema, description, required=True)


def content(*pairs: tuple[str, Schema]) -> dict[str, Schema]:
    return {media: {"schema": schema} for media, schema in pairs}


def body(description: str, media: dict[str, Schema], required: bool = True) -> Schema:
    return {"description": description, "required": required, "content": media}


def reply(
    description: str, media: dict[str, Schema] | None = None, retry_after: bool = False
) -> Schema:
    response: Schema = {"description": description}
    if media:
        response["content"] = media
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
        }
    return response


def ok(description: str, schema: Schema) -> dict[str, Schema]:
    return {"200": reply(description, content((JSON, schema)))}


def errors(shape: str, *statuses: int) -> dict[str, Schema]:
    """Error responses of these statuses, each a JSON body of the dialect's error shape."""
    return {
        str(status): reply(STATUS_TEXT[status], content((JSON, ref(shape))), status == 503)
        for status in statuses
    }


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    parameters: Iterable[Schema] = (),
    request_body: Schema | None = None,
    security: Security | None = None,
    description: str = "",
) -> Operation:
    op: Operation = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = list(parameters)
    if request_body is not None:
        op["requestBody"] = request_body
    op["responses"] = responses
    op["security"] = security if security is not None else []
    return op


# -- component schemas ----------------------------------------------------------------


def error_schemas() -> dict[str, Schema]:
    return {
        "Message": obj({"message": string()}, ["message"], "Roboflow, inference-sdk, SageMaker"),
        "Error": obj({"error": string()}, ["error"], "Matting errors; Deepomatic's 400s"),
        "Detail": obj({"detail": string()}, ["detail"], "Deepomatic's other errors"),
    }


def service_schemas() -> dict[str, Schema]:
    return {
        "Health": obj({"status": string(const="ok")}, ["status"]),
        "Readiness": obj(
            {"status": string(enum=["ready", "loading"]), "models": INTEGER}, ["status"]
        ),
        "Info": obj({"name": string(), "version": string(), "uuid": string()}, ["name", "version"]),
    }


def roboflow_schemas() -> dict[str, Schema]:
    point = obj({"x": NUMBER, "y": NUMBER}, ["x", "y"])
    common = {
        "inference_id": string(),
        "time": NUMBER,
        "image": obj({"width": INTEGER, "height": INTEGER}, ["width", "height"]),
        "visualization": string("Base64 JPEG, with format=image_and_json"),
    }
    detection = obj(
        {
            "x": NUMBER,
            "y": NUMBER,
            "width": NUMBER,
            "height": NUMBER,
            "confidence": NUMBER,
            "class": string(),
            "class_id": INTEGER,
            "detection_id": string(),
            "points": array(point, description="Instance outline, original pixels"),
        },
        ["x", "y", "width", "height", "confidence", "class", "class_id"],
        "Box centre and size in original-image pixels",
    )
    ranked = obj({"class": string(), "class_id": INTEGER, "confidence": NUMBER})
    multi = obj({"confidence": NUMBER, "class_id": INTEGER})
    return {
        "Detection": detection,
        "DetectionResult": obj(
            {**common, "predictions": array(ref("Detection"))}, ["image", "predictions"]
        ),
        "SemanticResult": obj(
            {
                **common,
                "segmentation_mask": string("Base64 8-bit PNG, pixel = class id"),
                "class_map": {"type": "object", "additionalProperties": string()},
            },
            ["image", "segmentation_mask", "class_map"],
        ),
        "ClassificationResult": obj(
            {**common, "predictions": array(ranked), "top": string(), "confidence": NUMBER},
            ["image", "predictions", "top", "confidence"],
        ),
        "MultiLabelClassificationResult": obj(
            {
                **common,
                "predictions": {"type": "object", "additionalProperties": multi},
                "predicted_classes": array(string()),
            },
            ["image", "predictions", "predicted_classes"],
        ),
        "InferenceResult": {
            "anyOf": [
                ref("DetectionResult"),
                ref("SemanticResult"),
                ref("ClassificationResult"),
                ref("MultiLabelClassificationResult"),
            ]
        },
    }


def bootstrap_schemas() -> dict[str, Schema]:
    trained = obj(
        {"id": string(), "name": string(), "type": PROJECT_TYPE, "classes": array(string())},
        ["id", "type"],
    )
    version = obj(
        {
            "id": string(),
            "name": string(),
            "version": string(),
            "created": INTEGER,
            "images": INTEGER,
            "splits": {"type": "object"},
            "augmentation": {"type": "object"},
            "preprocessing": {"type": "object"},
            "exports": array({}),
            "model": trained,
            "models": array(string()),
            "train": obj({"model": trained}, ["model"]),
        },
        ["id", "model"],
    )
    project = obj(
        {
            "id": string(),
            "name": string(),
            "type": PROJECT_TYPE,
            "created": INTEGER,
            "updated": INTEGER,
            "annotation": string(),
            "classes": {"type": "object", "additionalProperties": INTEGER},
            "colors": {"type": "object", "additionalProperties": string()},
            "images": INTEGER,
            "unannotated": INTEGER,
            "public": BOOLEAN,
            "splits": {"type": "object"},
            "versions": INTEGER,
        },
        ["id", "name", "type"],
    )
    return {
        "ProjectVersion": version,
        "ProjectSummary": project,
        "WorkspaceCheck": obj({"workspace": string()}, ["workspace"]),
        "Workspace": obj(
            {
                "workspace": obj(
                    {
                        "name": string(),
                        "url": string(),
                        "projects": array(ref("ProjectSummary")),
                        "members": array({}),
                    },
                    ["name", "url", "projects"],
                )
            },
            ["workspace"],
        ),
        "Project": obj(
            {"project": ref("ProjectSummary"), "versions": array(ref("ProjectVersion"))},
            ["project", "versions"],
        ),
        "VersionLookup": obj({"version": ref("ProjectVersion")}, ["version"]),
    }


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


def sagemaker_schemas() -> dict[str, Schema]:
    box = array(NUMBER, minItems=4, maxItems=4, description="x1, y1, x2, y2 in pixels")
    return {
        "SageMakerResult": obj(
            {"labels": array(string(examples=["square 98%"])), "boxes": array(box)},
            ["labels", "boxes"],
            "Instances, best first",
        )
    }


def matting_schemas() -> dict[str, Schema]:
    return {
        "MattingRequest": obj(
            {
                "url": string("http(s):// or s3://bucket/key"),
                "img": string("Base64 jpg/jpeg/png/bmp"),
                "type": string(
                    "Empty: the alpha matte; foreground: the image as RGBA",
                    enum=["", "foreground"],
                ),
            },
            description="Exactly one of url and img",
        ),
        "MattingResult": obj({"result": string("Base64 PNG")}, ["result"]),
    }


def deepomatic_schemas() -> dict[str, Schema]:
    label = obj({"id": INTEGER, "name": string()}, ["id", "name"])
    outputs = obj(
        {
            "labels": obj(
                {
                    "roi": string(enum=["NONE", "BBOX"]),
                    "exclusive": BOOLEAN,
                    "labels": array(label),
                },
                ["roi", "exclusive", "labels"],
            )
        },
        ["labels"],
    )
    bbox = obj(
        {"xmin": NUMBER, "ymin": NUMBER, "xmax": NUMBER, "ymax": NUMBER},
        ["xmin", "ymin", "xmax", "ymax"],
        "Normalised to the image, origin top-left",
    )
    scored = obj(
        {
            "label_id": INTEGER,
            "label_name": string(),
            "score": NUMBER,
            "threshold": NUMBER,
            "roi": obj({"region_id": INTEGER, "bbox": ref("NormalisedBox")}),
        },
        ["label_id", "label_name", "score", "threshold"],
    )
    image = obj(
        {
            "source": string("An http(s) URL or a data:image/*;base64, URI"),
            "bbox": ref("NormalisedBox"),
            "polygon": array(obj({"x": NUMBER, "y": NUMBER}, ["x", "y"]), minItems=3),
            "crop_uniform_background": BOOLEAN,
        },
        ["source"],
    )
    return {
        "NormalisedBox": bbox,
        "RecognitionSpec": obj(
            {
                "id": {"type": ["string", "integer"]},
                "name": string(),
                "description": string(),
                "update_date": string(),
                "metadata": {"type": "object"},
                "outputs": array(outputs),
                "current_version_id": INTEGER,
            },
            ["id", "name", "outputs"],
        ),
        "RecognitionVersion": obj(
            {
                "id": INTEGER,
                "spec_id": INTEGER,
                "network_id": INTEGER,
                "update_date": string(),
                "preprocessing": {"type": "object"},
                "post_processings": array({"type": "object"}),
            },
            ["id", "spec_id"],
        ),
        "LabelsData": obj(
            {
                "outputs": array(
                    obj(
                        {
                            "labels": obj(
                                {"predicted": array(scored), "discarded": array(scored)},
                                ["predicted", "discarded"],
                            )
                        },
                        ["labels"],
                    )
                )
            },
            ["outputs"],
        ),
        "Task": obj(
            {
                "id": INTEGER,
                "status": string(enum=["pending", "success", "error"]),
                "error": nullable(string()),
                "date_created": string(),
                "date_updated": string(),
                "data": nullable(ref("LabelsData")),
                "subtasks": {"type": "null"},
            },
            ["id", "status", "error", "data"],
        ),
        "TaskCreated": obj({"task_id": INTEGER}, ["task_id"]),
        "DeepomaticInference": obj(
            {
                "inputs": array(obj({"image": image}, ["image"]), minItems=1, maxItems=1),
                "show_discarded": BOOLEAN,
                "max_predictions": {**INTEGER, "minimum": 1},
            },
            ["inputs"],
        ),
        "DeepomaticInferenceForm": obj(
            {
                "inputs[0]image.source": {**BINARY, "description": "The image file"},
                "show_discarded": BOOLEAN,
                "max_predictions": {**INTEGER, "minimum": 1},
            },
            ["inputs[0]image.source"],
            "The deepomatic-api client's multipart: flattened fields, the image as a file",
        ),
        "SpecPage": page(ref("RecognitionSpec")),
        "VersionPage": page(ref("RecognitionVersion")),
        "TaskPage": page(ref("Task")),
    }


def page(item: Schema) -> Schema:
    link = nullable(string())
    return obj(
        {"count": INTEGER, "next": link, "previous": link, "prev": link, "results": array(item)},
        ["count", "next", "previous", "results"],
    )


def component_schemas() -> dict[str, Schema]:
    return {
        **error_schemas(),
        **service_schemas(),
        **roboflow_schemas(),
        **bootstrap_schemas(),
        **inference_server_schemas(),
        **sagemaker_schemas(),
        **matting_schemas(),
        **deepomatic_schemas(),
    }


# -- paths: service -------------------------------------------------------------------


def service_paths() -> dict[str, PathItem]:
    tag = "service"
    return {
        "/healthz": {"get": operation("healthz", "Liveness", tag, ok("Alive", ref("Health")))},
        "/readyz": {
            "get": operation(
                "readyz",
                "Readiness: 200 once the models are loaded",
                tag,
                {
                    **ok("Ready", ref("Readiness")),
                    "503": reply("Still loading", content((JSON, ref("Readiness"))), True),
                },
            )
        },
        "/info": {
            "get": operation("info", "Server name and version", tag, ok("Info", ref("Info")))
        },
        PATH: {
            "get": operation(
                "openapi",
                "This document",
                tag,
                ok("The OpenAPI 3.1 description", {"type": "object"}),
            )
        },
    }


# -- paths: Roboflow hosted routes and SDK bootstrap ----------------------------------

ROBOFLOW_QUERY = [
    query(
        "confidence",
        {**NUMBER, "minimum": 0, "maximum": 100, "default": 40},
        "Score threshold: 0-100, or a fraction below 1",
    ),
    query(
        "overlap",
        {**NUMBER, "minimum": 0, "maximum": 100, "default": 30},
        "NMS IoU threshold: 0-100, or a fraction below 1",
    ),
    query("classes", string(), "Comma-separated class names to keep"),
    query("max_detections", {**INTEGER, "minimum": 1, "maximum": 10000, "default": 300}, "Cap"),
    query(
        "format",
        string(enum=["json", "image", "image_and_json"], default="json"),
        "json; image: an annotated JPEG; image_and_json: JSON with `visualization`",
    ),
    query("labels", {**BOOLEAN, "default": False}, "Draw class labels (format=image)"),
    query("stroke", {**INTEGER, "minimum": 1, "maximum": 50, "default": 1}, "Line width in px"),
    query("name", string(), "A file name; ignored"),
    query("image", string(), "An http(s) image URL to fetch; the body is then ignored"),
]
ROBOFLOW_BODY = body(
    "The image: raw bytes, base64 text (data-URI prefix, line breaks, URL-safe alphabet and "
    "missing padding are fine) under any other Content-Type, or a multipart part `file`. "
    "Not needed with ?image=.",
    {
        "image/*": {"schema": BINARY},
        "application/x-www-form-urlencoded": {
            "schema": string("Base64 image bytes (not form-decoded)", contentEncoding="base64")
        },
        "text/plain": {"schema": string("Base64 image bytes", contentEncoding="base64")},
        "multipart/form-data": {
            "schema": obj({"file": BINARY}, ["file"]),
            "encoding": {"file": {"contentType": "image/*"}},
        },
    },
    required=False,
)
ROBOFLOW_RESULT = {
    "200": reply(
        "The prediction: JSON, or an annotated JPEG with format=image",
        content((JSON, ref("InferenceResult")), ("image/jpeg", BINARY)),
    ),
    **errors("Message", 400, 401, 403, 404, 408, 413, 503),
}
# GET /{workspace}, /{project}/{version} and GET /{workspace}/{project}/{version} come
# after every other route: these first segments reach other routes.
SHADOWING_ONE = ("healthz", "readyz", "info", "ping", PATH.lstrip("/"))
SHADOWING_TWO = ("model", "infer", "v0.7")
SHADOWING_THREE = ("detect", "outline", "segment", "classify", "v0.7", "endpoints")
MODEL_PATH = [
    path(
        "project",
        "The model id's project",
        {**segment(*SHADOWING_TWO), "examples": ["shapes-detect"]},
    ),
    path("version", "The model id's version", {**SEGMENT, "examples": ["1"]}),
]


def roboflow_inference(operation_id: str, summary: str, method: str, bare: bool) -> Operation:
    responses = dict(ROBOFLOW_RESULT)
    if bare and method == "get":  # GET /{workspace}/{project} is the SDK's project lookup
        responses["200"] = reply(
            "The prediction, or the project when the first segment is the workspace",
            content(
                (JSON, {"anyOf": [ref("InferenceResult"), ref("Project")]}),
                ("image/jpeg", BINARY),
            ),
        )
    return operation(
        operation_id,
        summary,
        "roboflow",
        responses,
        parameters=[*MODEL_PATH, *ROBOFLOW_QUERY],
        request_body=ROBOFLOW_BODY if method == "post" else None,
        security=QUERY_OR_BEARER,
    )


def roboflow_paths() -> dict[str, PathItem]:
    families = {
        "detect": "object detection",
        "outline": "instance segmentation",
        "segment": "semantic segmentation",
        "classify": "classification",
    }
    paths: dict[str, PathItem] = {
        "/": {
            "post": operation(
                "roboflowCheckKey",
                "The roboflow SDK's key check: the workspace of the key",
                "roboflow",
                {**ok("The workspace", ref("WorkspaceCheck")), **errors("Message", 401)},
                security=QUERY_OR_BEARER,
            )
        }
    }
    for family, task in families.items():
        paths[f"/{family}/{{project}}/{{version}}"] = {
            method: roboflow_inference(
                f"{family}{method.capitalize()}", f"Predict with a {task} model", method, False
            )
            for method in ("post", "get")
        }
    paths["/{workspace}/{project}/{version}"] = {
        "get": operation(
            "roboflowVersion",
            "The roboflow SDK's version lookup",
            "roboflow",
            {**ok("The version", ref("VersionLookup")), **errors("Message", 401, 404)},
            parameters=[path("workspace", "The workspace", segment(*SHADOWING_THREE)), *MODEL_PATH],
            security=QUERY_OR_BEARER,
        )
    }
    paths["/{project}/{version}"] = {
        method: roboflow_inference(
            f"bare{method.capitalize()}",
            "Predict; the family is the Host's first label (detect.example.com), else the "
            "model's task. GET /{workspace}/{project} without ?image= is the project lookup",
            method,
            True,
        )
        for method in ("post", "get")
    }
    paths["/{workspace}"] = {
        "get": operation(
            "roboflowWorkspace",
            "The roboflow SDK's workspace lookup: every project",
            "roboflow",
            {**ok("The workspace", ref("Workspace")), **errors("Message", 401, 404)},
            parameters=[
                path(
                    "workspace",
                    "The workspace",
                    {**segment(*SHADOWING_ONE), "examples": ["gateway"]},
                )
            ],
            security=QUERY_OR_BEARER,
        )
    }
    return paths


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


# -- paths: SageMaker -----------------------------------------------------------------


def sagemaker_invocations(operation_id: str, parameters: Iterable[Schema]) -> Operation:
    headers = [
        parameter(
            "X-Amzn-SageMaker-Custom-Attributes",
            "header",
            string(maxLength=1024),
            'JSON such as {"response_type": "json"|"jpeg"|"png", "threshold": 0.5}; '
            "used when Accept is missing or */*",
        ),
        parameter(
            "X-Amzn-SageMaker-Target-Model",
            "header",
            string(),
            "The model id (default: GATEWAY_SAGEMAKER_MODEL, else the first instance model)",
        ),
    ]
    return operation(
        operation_id,
        "Instances in one image; the response type follows Accept",
        "sagemaker",
        {
            "200": reply(
                "Labels and boxes, or the image with each instance drawn",
                content(
                    (JSON, ref("SageMakerResult")), ("image/jpeg", BINARY), ("image/png", BINARY)
                ),
            ),
            **errors("Message", 400, 404, 406, 408, 413, 415, 503),
        },
        parameters=[*parameters, *headers],
        request_body=body(
            "The image, at most 6 MB", content(("image/jpeg", BINARY), ("image/png", BINARY))
        ),
        description="No API key: SageMaker authenticates callers before the container.",
    )


def sagemaker_paths() -> dict[str, PathItem]:
    return {
        "/ping": {
            "get": operation(
                "ping",
                "200 once the models are loaded",
                "sagemaker",
                {"200": reply("Ready"), "503": reply("Loading", retry_after=True)},
            )
        },
        "/invocations": {"post": sagemaker_invocations("invocations", [])},
        "/endpoints/{name}/invocations": {
            "post": sagemaker_invocations(
                "endpointInvocations", [path("name", "The endpoint name (ignored)")]
            )
        },
    }


# -- paths: matting -------------------------------------------------------------------


def matting_paths() -> dict[str, PathItem]:
    def matting(operation_id: str) -> Operation:
        return operation(
            operation_id,
            "Foreground matte of an image",
            "matting",
            {
                **ok("A base64 PNG", ref("MattingResult")),
                **errors("Error", 400, 401, 403, 404, 408, 413, 415, 503),
            },
            request_body=body("url or img", content((JSON, ref("MattingRequest")))),
            security=ANY_KEY,
            description="Images up to 4096 px on their longest side. No key is needed with "
            "GATEWAY_MATTING_AUTH=none.",
        )

    return {
        "/human_image_segmentation": {"post": matting("humanImageSegmentation")},
        "/human-segmentation": {"post": matting("humanSegmentation")},
    }


# -- paths: Deepomatic v0.7 -----------------------------------------------------------

PAGING = [
    query("offset", {**INTEGER, "minimum": 0}, "Items to skip"),
    query("limit", {**INTEGER, "minimum": 0, "maximum": 1000, "default": 100}, "Page size"),
]
SPEC_ID = path("id", "The spec or version id", {**INTEGER, "minimum": 1})
PUBLIC_NAME = path("name", "`{project}-v{version}`", {**SEGMENT, "examples": ["shapes-detect-v1"]})


def deepomatic_get(
    operation_id: str, summary: str, item: str, parameters: Iterable[Schema] = ()
) -> Operation:
    """A list (a page schema: 400 for bad paging) or a lookup (404 when missing)."""
    parameters = list(parameters)
    listing = item.endswith("Page")
    lookup = any(p["in"] == "path" for p in parameters)
    return operation(
        operation_id,
        summary,
        "deepomatic",
        {
            **ok(summary, ref(item)),
            **(errors("Error", 400) if listing else {}),
            **errors("Detail", 401, *((404,) if lookup else ())),
        },
        parameters=[*parameters, *(PAGING if listing else ())],
        security=HEADER_OR_QUERY,
    )


def deepomatic_inference(operation_id: str, parameter: Schema) -> Operation:
    return operation(
        operation_id,
        "Start an inference task; poll /v0.7/tasks/{id}/ for its result",
        "deepomatic",
        {
            **ok("The task, created", ref("TaskCreated")),
            **errors("Error", 400),
            **errors("Detail", 401, 403, 404, 408, 413, 415, 503),
        },
        parameters=[parameter],
        request_body=body(
            "One input",
            {
                JSON: {"schema": ref("DeepomaticInference")},
                "multipart/form-data": {"schema": ref("DeepomaticInferenceForm")},
            },
        ),
        security=HEADER_OR_QUERY,
    )


def deepomatic_operations() -> dict[str, PathItem]:
    """Paths under /v0.7 without their trailing slash."""
    task_ids = query("task_ids", array(string(pattern="^[0-9]+(,[0-9]+)*$")), "Task ids")
    task_ids["explode"] = True
    task_id = path("id", "The task id", {**INTEGER, "minimum": 1})
    return {
        "/recognition/public": {
            "get": deepomatic_get("listPublicSpecs", "Public specs (one per model)", "SpecPage")
        },
        "/recognition/public/{name}": {
            "get": deepomatic_get(
                "getPublicSpec", "A public spec", "RecognitionSpec", [PUBLIC_NAME]
            )
        },
        "/recognition/public/{name}/inference": {
            "post": deepomatic_inference("publicInference", PUBLIC_NAME)
        },
        "/recognition/specs": {"get": deepomatic_get("listSpecs", "Private specs", "SpecPage")},
        "/recognition/specs/{id}": {
            "get": deepomatic_get("getSpec", "A private spec", "RecognitionSpec", [SPEC_ID])
        },
        "/recognition/specs/{id}/versions": {
            "get": deepomatic_get("specVersions", "A spec's versions", "VersionPage", [SPEC_ID])
        },
        "/recognition/specs/{id}/inference": {
            "post": deepomatic_inference("specInference", SPEC_ID)
        },
        "/recognition/versions": {
            "get": deepomatic_get("listVersions", "Spec versions", "VersionPage")
        },
        "/recognition/versions/{id}": {
            "get": deepomatic_get("getVersion", "A spec version", "RecognitionVersion", [SPEC_ID])
        },
        "/recognition/versions/{id}/inference": {
            "post": deepomatic_inference("versionInference", SPEC_ID)
        },
        "/tasks": {"get": deepomatic_get("listTasks", "Tasks by id", "TaskPage", [task_ids])},
        "/tasks/{id}": {"get": deepomatic_get("getTask", "A task", "Task", [task_id])},
    }


def deepomatic_paths() -> dict[str, PathItem]:
    """Every route with and without its trailing slash (the client sends the slash)."""
    paths: dict[str, PathItem] = {}
    for suffix, slash in (("", ""), ("Slash", "/")):
        for route, item in deepomatic_operations().items():
            paths[f"/v0.7{route}{slash}"] = {
                method: {**op, "operationId": op["operationId"] + suffix}
                for method, op in item.items()
            }
    return paths


# -- the document ---------------------------------------------------------------------


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, as a plain dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vision-gateway",
            "version": __version__,
            "description": "ONNX vision models behind the HTTP dialects of hosted vision "
            "APIs: Roboflow's hosted routes and SDK bootstrap, Roboflow Inference server v1 "
            "(inference-sdk), SageMaker, foreground matting and Deepomatic v0.7.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": name}
            for name in (
                "service",
                "roboflow",
                "inference-server",
                "sagemaker",
                "matting",
                "deepomatic",
            )
        ],
        "paths": {
            **service_paths(),
            **sagemaker_paths(),
            **matting_paths(),
            **deepomatic_paths(),
            **inference_server_paths(),
            **roboflow_paths(),
        },
        "components": {"schemas": component_schemas(), "securitySchemes": SECURITY_SCHEMES},
    }


@functools.cache
def document_bytes() -> bytes:
    return orjson.dumps(document())


async def openapi(request: Request) -> Response:
    return Response(document_bytes(), media_type="application/json")


def routes() -> list[Route]:
    return [Route(PATH, openapi, methods=["GET"])]
