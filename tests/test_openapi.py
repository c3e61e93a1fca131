"""GET /openapi.json describes every route the app mounts, and schemathesis fuzzes the
app through it (in-process over ASGI, lifespan running): no request may get a 5xx, and
responses keep to the documented statuses, media types and schemas."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.routing import Route

from gateway.app import create_app
from gateway.dialects.openapi import document
from gateway.jobs.runner import open_store
from tests.conftest import TEST_KEY, settings_for
from tests.layouts import make_model, save, ultralytics_metadata, write_config

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A negative case breaks the document on purpose: a path parameter may then name another
# route (`/{workspace}` with `ping`), so only the absence of 5xx is checked.
NEGATIVE_CHECKS = [not_a_server_error]
EXAMPLES_PER_OPERATION = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "30"))  # more: deeper

# The fuzzed app's models (conftest's four and a matting model), and what routes serve them.
MODELS = ["det", "seg", "sem", "cls", "matte"]
FAMILY_MODEL = {"detect": "det", "outline": "seg", "segment": "sem", "classify": "cls"}
TASK_MODEL = {
    "object_detection": "det",
    "instance_segmentation": "seg",
    "semantic_segmentation": "sem",
    "classification": "cls",
}
ROUTE_MODEL = {"human_image_segmentation": "matte", "human-segmentation": "matte"}
ROUTE_MODEL |= {"invocations": "seg", "endpoints": "seg"}
SPEC_IDS = {"det": 1, "seg": 2, "cls": 3}  # Deepomatic lists detect, instance and classify
WORKSPACE = "gateway"  # the default workspace of a model config
TASK_DB = "tasks.sqlite3"

# A case keeps its generated key, or gets the all-models key or the det/1-only key
# (settings_for); it keeps its generated model, or is aimed at the model its route serves
# ("match"), at any model, or at the roboflow SDK's workspace lookup.
KEYS = [TEST_KEY, "scoped-key", "generated"]  # hypothesis favours the first
TARGETS = ["match", None, "match", *MODELS, "workspace"]


# -- the document covers the app ------------------------------------------------------


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def mounted(routes: list[Any]) -> set[tuple[str, str]]:
    pairs = set()
    for route in routes:
        assert isinstance(route, Route), f"{route!r} is not a plain Route: describe it"
        pairs |= {(route.path, method) for method in route.methods or () if method != "HEAD"}
    return pairs


def operation_ids() -> list[str]:
    return [
        op["operationId"]
        for item in document()["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]


async def test_the_document_covers_every_mounted_route(
    model_dir: Path, client: httpx.AsyncClient
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert documented(doc) == mounted(create_app(settings_for(model_dir)).routes)
    assert len(operation_ids()) == len(set(operation_ids()))


def test_the_document_is_valid_openapi_3_1() -> None:
    schemathesis.openapi.from_dict(document()).validate()  # raises when it is not


# -- schemathesis ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The matting model, the config and the task store of the fuzzed app."""
    return tmp_path_factory.mktemp("openapi")


@pytest.fixture(scope="module")
def api_schema(model_dir: Path, fuzz_dir: Path) -> Iterator[OpenApiSchema]:
    """The app with conftest's models and a matting model, so that every dialect has a
    model to run. schemathesis runs the app's lifespan itself: it starts it for the
    first request of each test and ends it when the test ends (its pytest plugin)."""
    logits = np.full((1, 1, 64, 64), -8.0)
    logits[..., 16:48, 16:48] = 8.0
    meta = ultralytics_metadata(["background", "foreground"], "matting", (64, 64))
    save(make_model({"output0": (logits, None)}, meta, imgsz=(64, 64)), fuzz_dir / "matte.onnx")
    entries: list[dict[str, object]] = [
        {"id": f"{name}/1", "path": str(model_dir / f"{name}.onnx")} for name in MODELS[:4]
    ]
    entries.append({"id": "matte/1", "path": "matte.onnx", "activation": "sigmoid"})
    config = write_config(fuzz_dir, entries)
    app = create_app(settings_for(model_dir, config_path=config, task_db=fuzz_dir / TASK_DB))
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        schemathesis_asgi.shutdown_lifespans()


def encoded_image(width: int, height: int, seed: int, extension: str) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    ok, data = cv2.imencode(extension, pixels)
    assert ok
    return data.tobytes()


IMAGES = st.one_of(
    st.builds(
        encoded_image,
        st.integers(1, 96),
        st.integers(1, 96),
        st.integers(0, 2**16),
        st.sampled_from([".jpg", ".png"]),
    ),
    st.none(),
)


def use_key(case: schemathesis.Case[Any], key: str) -> None:
    """Replace the generated key with `key`, wherever the routes read one."""
    case.query["api_key"] = key
    case.headers.update({"X-API-KEY": key, "Authorization": f"Bearer {key}"})
    if isinstance(case.body, dict) and "api_key" in case.body:
        case.body["api_key"] = key


def served_by(case: schemathesis.Case[Any]) -> str:
    """The model the case's route serves: by family, task or route, else detection."""
    first = case.operation.path.split("/")[1]
    task = case.path_parameters.get("task")
    return FAMILY_MODEL.get(first) or TASK_MODEL.get(str(task)) or ROUTE_MODEL.get(first, "det")


def aim(case: schemathesis.Case[Any], target: str) -> None:
    """Point the case at a configured model: in its path, body or SageMaker header."""
    model = served_by(case) if target in ("match", "workspace") else target
    params = case.path_parameters
    if "workspace" in params:
        params["workspace"] = WORKSPACE
    if "project" in params and "version" in params:
        lookup = target == "workspace" and "workspace" not in params
        params["project"], params["version"] = (WORKSPACE, model) if lookup else (model, "1")
    if "name" in params:
        params["name"] = f"{model}-v1"
    if "id" in params:
        params["id"] = SPEC_IDS.get(model, 1)
    if isinstance(case.body, dict) and "model_id" in case.body:
        case.body["model_id"] = f"{model}/1"
    if "X-Amzn-SageMaker-Target-Model" in case.headers:
        case.headers["X-Amzn-SageMaker-Target-Model"] = f"{model}/1"


def with_image(case: schemathesis.Case[Any], image: bytes) -> None:
    """Put a decodable image where the route reads one, as the body's media type wants."""
    raw: Any = image  # bytes are sent as they are
    text = base64.b64encode(image).decode("ascii")
    media = case.media_type or ""
    body = case.body
    if media.startswith("image/"):
        case.body = raw
    elif media in ("text/plain", "application/x-www-form-urlencoded"):
        case.body = text
    elif not isinstance(body, dict):
        return
    elif media.startswith("multipart/"):
        for part in ("file", "inputs[0]image.source"):
            if part in body:
                body[part] = raw
    elif "img" in body or "url" in body:  # matting
        body.pop("url", None)
        body["img"] = text
    elif isinstance(body.get("image"), dict | list):  # inference-sdk
        body["image"] = {"type": "base64", "value": text}
    elif isinstance(body.get("inputs"), list) and body["inputs"]:  # Deepomatic
        body["inputs"] = [{"image": {"source": f"data:image/jpeg;base64,{text}"}}]


@pytest.mark.parametrize("operation_id", operation_ids())
def test_no_server_errors_and_documented_responses(
    api_schema: OpenApiSchema, operation_id: str
) -> None:
    """Valid and invalid requests (schemathesis' positive and negative modes) with a
    valid, a scoped or a generated key, aimed at a served model or not, carrying a
    decodable image or whatever was generated."""
    operation = api_schema.find_operation_by_id(operation_id)
    cases = st.one_of(
        st.tuples(operation.as_strategy(GenerationMode.POSITIVE), st.just(CHECKS)),
        st.tuples(operation.as_strategy(GenerationMode.NEGATIVE), st.just(NEGATIVE_CHECKS)),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(
        case_and_checks=cases,
        key=st.sampled_from(KEYS),
        target=st.sampled_from(TARGETS),
        image=IMAGES,
    )
    def fuzz(
        case_and_checks: tuple[schemathesis.Case[Any], list[Any]],
        key: str,
        target: str | None,
        image: bytes | None,
    ) -> None:
        case, checks = case_and_checks
        if key != "generated":
            use_key(case, key)
        if target is not None:
            aim(case, target)
        if image is not None:
            with_image(case, image)
        case.call_and_validate(checks=checks)

    fuzz()


def test_no_fuzzed_task_failed_with_an_internal_error(fuzz_dir: Path) -> None:
    """Deepomatic inference answers 200 at once and fails later, in its task: a bug there
    shows as a task ended with "internal error" (JobRunner), not as a 5xx. The fuzzing
    tests above have ended the app's lifespan, so that no task is still running."""
    store = open_store("", fuzz_dir / TASK_DB, 3600.0)
    try:
        tasks = [t for t in itertools.takewhile(bool, map(store.get, itertools.count(1))) if t]
    finally:
        store.close()
    failed = [task.id for task in tasks if task.error == "internal error"]
    assert not failed, f"tasks {failed} failed with a bug: see gateway.jobs.runner's log"
