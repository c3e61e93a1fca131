"""OpenAPI section: Deepomatic v0.7 (specs, versions, inference tasks)."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.dialects.openapi.schema import (
    BINARY,
    BOOLEAN,
    HEADER_OR_QUERY,
    INTEGER,
    JSON,
    NUMBER,
    SEGMENT,
    Operation,
    PathItem,
    Schema,
    array,
    body,
    errors,
    nullable,
    obj,
    ok,
    operation,
    page,
    path,
    query,
    ref,
    string,
)


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
