"""OpenAPI section: the web playground's page, its files and its model list."""

from __future__ import annotations

from gateway.dialects.openapi.schema import (
    PathItem,
    Schema,
    array,
    content,
    obj,
    ok,
    operation,
    ref,
    reply,
    string,
)
from gateway.dialects.playground import MATTING_ROUTE


def playground_schemas() -> dict[str, Schema]:
    return {
        "PlaygroundModels": obj(
            {
                "models": array(
                    obj(
                        {
                            "id": string("project/version"),
                            "task": string(
                                enum=["detect", "instance", "semantic", "classify", "matting"]
                            ),
                            "route": string(
                                f"The route the page calls: /{{family}}/{{id}} or {MATTING_ROUTE}"
                            ),
                        },
                        ["id", "task", "route"],
                    )
                )
            },
            ["models"],
        )
    }


def _file(operation_id: str, summary: str, media: str) -> PathItem:
    return {
        "get": operation(
            operation_id,
            summary,
            "playground",
            {"200": reply(summary, content((media, string())))},
        )
    }


def playground_paths() -> dict[str, PathItem]:
    page = "The playground: a web page that runs the models and draws their predictions"
    return {
        "/": _file("playgroundRoot", page, "text/html"),
        "/playground": _file("playground", page, "text/html"),
        "/playground/playground.js": _file(
            "playgroundScript", "The playground's script", "text/javascript"
        ),
        "/playground/playground.css": _file(
            "playgroundStyle", "The playground's style sheet", "text/css"
        ),
        "/playground/models": {
            "get": operation(
                "playgroundModels",
                "The models the playground offers, with the route that serves each (no key)",
                "playground",
                ok("The models", ref("PlaygroundModels")),
            )
        },
    }
