"""The OpenAPI 3.1 description of every route the gateway mounts: GET /openapi.json.

The document is built once, from the helpers in `schema`, one module per dialect:
service, Roboflow hosted routes and the roboflow SDK's bootstrap, Roboflow Inference
server v1 (inference-sdk), SageMaker, matting, Deepomatic v0.7 and the web playground.
Each dialect keeps its own error shape: `{"message"}` (Roboflow, inference-sdk,
SageMaker, routing errors), `{"error"}` (matting; Deepomatic's 400s) and `{"detail"}`
(Deepomatic's other errors); the playground serves its page, script and style sheet.
tests/test_openapi.py checks that every mounted route is described here, and fuzzes
the app through this document with schemathesis.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import __version__
from gateway.dialects.openapi import (
    deepomatic,
    inference_server,
    matting,
    playground,
    roboflow,
    sagemaker,
    schema,
    service,
)


def component_schemas() -> dict[str, schema.Schema]:
    return {
        **schema.error_schemas(),
        **service.service_schemas(),
        **roboflow.roboflow_schemas(),
        **roboflow.bootstrap_schemas(),
        **inference_server.inference_server_schemas(),
        **sagemaker.sagemaker_schemas(),
        **matting.matting_schemas(),
        **deepomatic.deepomatic_schemas(),
        **playground.playground_schemas(),
    }


def merged(*sections: dict[str, schema.PathItem]) -> dict[str, schema.PathItem]:
    """The sections' paths; a path in several (`/`: the playground's GET, Roboflow's POST)
    gets the methods of each."""
    paths: dict[str, schema.PathItem] = {}
    for section in sections:
        for path, item in section.items():
            paths[path] = {**paths.get(path, {}), **item}
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
                "playground",
            )
        ],
        "paths": merged(
            service.service_paths(),
            sagemaker.sagemaker_paths(),
            matting.matting_paths(),
            deepomatic.deepomatic_paths(),
            inference_server.inference_server_paths(),
            playground.playground_paths(),
            roboflow.roboflow_paths(),
        ),
        "components": {"schemas": component_schemas(), "securitySchemes": schema.SECURITY_SCHEMES},
    }


@functools.cache
def document_bytes() -> bytes:
    return orjson.dumps(document())


async def openapi(request: Request) -> Response:
    return Response(document_bytes(), media_type="application/json")


def routes() -> list[Route]:
    return [Route(schema.PATH, openapi, methods=["GET"])]
