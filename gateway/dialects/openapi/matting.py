"""OpenAPI section: the foreground matting route."""

from __future__ import annotations

from gateway.dialects.openapi.schema import (
    ANY_KEY,
    JSON,
    Operation,
    PathItem,
    Schema,
    body,
    content,
    errors,
    obj,
    ok,
    operation,
    ref,
    string,
)


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
