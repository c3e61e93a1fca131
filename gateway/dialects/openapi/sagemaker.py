"""OpenAPI section: the SageMaker container (/ping, /invocations)."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.dialects.openapi.schema import (
    BINARY,
    JSON,
    NUMBER,
    Operation,
    PathItem,
    Schema,
    array,
    body,
    content,
    errors,
    obj,
    operation,
    parameter,
    path,
    ref,
    reply,
    string,
)


def sagemaker_schemas() -> dict[str, Schema]:
    box = array(NUMBER, minItems=4, maxItems=4, description="x1, y1, x2, y2 in pixels")
    return {
        "SageMakerResult": obj(
            {"labels": array(string(examples=["square 98%"])), "boxes": array(box)},
            ["labels", "boxes"],
            "Instances, best first",
        )
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
