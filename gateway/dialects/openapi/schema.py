"""Building blocks of the OpenAPI document: schema, parameter and response helpers,
the error shapes and the security schemes every dialect section uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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


def page(item: Schema) -> Schema:
    link = nullable(string())
    return obj(
        {"count": INTEGER, "next": link, "previous": link, "prev": link, "results": array(item)},
        ["count", "next", "previous", "results"],
    )
