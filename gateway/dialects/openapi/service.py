"""OpenAPI section: liveness, readiness, server info and metrics."""

from __future__ import annotations

from gateway.dialects.openapi.schema import (
    INTEGER,
    JSON,
    PATH,
    PathItem,
    Schema,
    content,
    obj,
    ok,
    operation,
    ref,
    reply,
    string,
)


def service_schemas() -> dict[str, Schema]:
    return {
        "Health": obj({"status": string(const="ok")}, ["status"]),
        "Readiness": obj(
            {"status": string(enum=["ready", "loading"]), "models": INTEGER}, ["status"]
        ),
        "Info": obj({"name": string(), "version": string(), "uuid": string()}, ["name", "version"]),
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
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics of every worker process (no API key)",
                tag,
                {"200": reply("The Prometheus text format", content(("text/plain", string())))},
            )
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
