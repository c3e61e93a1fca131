"""OpenAPI section: Roboflow's hosted routes and the roboflow SDK's bootstrap."""

from __future__ import annotations

from gateway.dialects.openapi.schema import (
    BINARY,
    BOOLEAN,
    INTEGER,
    JSON,
    NUMBER,
    PATH,
    PROJECT_TYPE,
    QUERY_OR_BEARER,
    SEGMENT,
    Operation,
    PathItem,
    Schema,
    array,
    body,
    content,
    errors,
    obj,
    ok,
    operation,
    path,
    query,
    ref,
    reply,
    segment,
    string,
)


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
SHADOWING_ONE = ("healthz", "readyz", "info", "metrics", "ping", "playground", PATH.lstrip("/"))
SHADOWING_TWO = ("model", "infer", "v0.7", "playground")
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
