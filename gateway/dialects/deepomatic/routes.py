"""Deepomatic v0.7 routes under /v0.7, each with and without its trailing slash.

    GET  recognition/public/  recognition/public/{name}/       public specs (the models)
    GET  recognition/specs/  recognition/specs/{id}/  recognition/specs/{id}/versions
    GET  recognition/versions/  recognition/versions/{id}/
    POST recognition/{public/{name}|specs/{id}|versions/{id}}/inference   -> {"task_id"}
    GET  tasks/{id}/   tasks/?task_ids=1&task_ids=2                        task polling
Auth: X-API-KEY with a gateway key. Errors: {"detail": ...} for auth, lookups and
service errors, {"error": ...} for bad requests, as Deepomatic answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth import ApiKey
from gateway.dialects.deepomatic import tasks
from gateway.dialects.deepomatic.catalog import Catalog, parse_id, spec_body, version_body
from gateway.dialects.deepomatic.inference import (
    InferenceRequest,
    from_json,
    from_multipart,
)
from gateway.dialects.http import (
    Handler,
    endpoint,
    json_response,
    parse_form,
    read_body,
    retry_headers,
    status_for,
)
from gateway.errors import (
    GatewayError,
    InvalidParameter,
    ModelNotFound,
    RequestError,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.images import image_bytes
from gateway.jobs import Job
from gateway.model import Model
from gateway.settings import Settings
from gateway.state import GatewayState

PREFIX = "/v0.7"
MAX_LIMIT = 1000


def error_response(exc: GatewayError) -> Response:
    key = "detail"
    if isinstance(exc, RequestError) and status_for(exc) == 400:
        key = "error"
    return json_response({key: str(exc)}, status_for(exc), retry_headers(exc))


async def authenticate(
    request: Request, state: GatewayState, model_id: str | None = None
) -> ApiKey:
    key = request.headers.get("x-api-key") or request.query_params.get("api_key")
    if model_id is None:
        return await state.access.identify(key)
    return await state.access.authorize(key, model_id)


def _int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = parse_id(raw)
    if value is None or value > high:
        raise InvalidParameter(f"{name} must be an integer between 0 and {high}")
    return value


def page(request: Request, items: list[dict[str, Any]]) -> Response:
    """`{"count", "next", "previous", "results"}` with absolute next/previous URLs."""
    offset = _int(request, "offset", 0, 10**9)
    limit = max(1, _int(request, "limit", 100, MAX_LIMIT))
    after, before = offset + limit, max(0, offset - limit)
    next_url = (
        str(request.url.include_query_params(offset=after, limit=limit))
        if after < len(items)
        else None
    )
    previous = str(request.url.include_query_params(offset=before, limit=limit)) if offset else None
    body: dict[str, Any] = {
        "count": len(items),
        "next": next_url,
        "previous": previous,
        "prev": previous,  # the client's ResourceList.prev() reads this key
    }
    body["results"] = items[offset : offset + limit]
    return json_response(body)


def catalog(state: GatewayState) -> Catalog:
    return Catalog(state.registry)


def catalog_read(answer: Callable[[Request, Catalog], Response]) -> Handler:
    """A read of the model catalogue: any valid key, then `answer` from the catalogue."""

    async def handler(request: Request, state: GatewayState) -> Response:
        await authenticate(request, state)
        return answer(request, catalog(state))

    return handler


def _id(request: Request, specs: Catalog) -> Model:
    return specs.by_id(request.path_params["id"])


list_public = catalog_read(
    lambda request, specs: page(request, [spec_body(specs, m, public=True) for m in specs.models])
)
get_public = catalog_read(
    lambda request, specs: json_response(
        spec_body(specs, specs.by_public_name(request.path_params["name"]), public=True)
    )
)
list_specs = catalog_read(
    lambda request, specs: page(request, [spec_body(specs, m, public=False) for m in specs.models])
)
get_spec = catalog_read(
    lambda request, specs: json_response(spec_body(specs, _id(request, specs), public=False))
)
spec_versions = catalog_read(
    lambda request, specs: page(request, [version_body(specs, _id(request, specs))])
)
list_versions = catalog_read(
    lambda request, specs: page(request, [version_body(specs, m) for m in specs.models])
)
get_version = catalog_read(
    lambda request, specs: json_response(version_body(specs, _id(request, specs)))
)


async def parse_inference(request: Request, settings: Settings) -> InferenceRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        body = await read_body(request, settings)
        return await from_multipart(await parse_form(request, body, settings))
    if content_type != "application/json":
        raise UnsupportedMediaType(
            f'Unsupported media type "{content_type or "none"}" in request: '
            "send application/json or multipart/form-data"
        )
    try:
        return from_json(orjson.loads(await read_body(request, settings)))
    except orjson.JSONDecodeError:
        raise InvalidParameter("the body is not valid JSON") from None


def inference(lookup: str) -> Handler:
    async def handler(request: Request, state: GatewayState) -> Response:
        specs = catalog(state)
        key = request.path_params[lookup]
        model = specs.by_public_name(key) if lookup == "name" else specs.by_id(key)
        client = await authenticate(request, state, model.id)
        parsed = await parse_inference(request, state.settings)
        # What can be refused cheaply is refused now, with a 4xx, rather than in the task:
        # a forbidden URL, bytes that are not an image, a header over the limits.
        if parsed.image.url is not None:
            await state.fetcher.check(parsed.image.url)
        if parsed.image.data is not None:
            raw = await state.pipeline.cpu(image_bytes, parsed.image.data, state.image_limits)
            parsed = replace(parsed, image=replace(parsed.image, data=raw))
        if state.jobs is None:
            raise Unavailable("the task runner is not running")
        job = await state.jobs.submit(tasks.KIND, tasks.encode(model.id, parsed), client.name)
        return json_response({"task_id": job.id})

    return handler


def task_body(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "error": job.error,
        "date_created": job.date_created,
        "date_updated": job.date_updated,
        "data": job.data,
        "subtasks": None,
    }


async def own_task(state: GatewayState, raw: str, client: ApiKey) -> Job | None:
    """The task, if it exists and `client` submitted it (others' tasks do not exist)."""
    task_id = parse_id(raw)
    job = await state.jobs.get(task_id) if task_id is not None and state.jobs else None
    return job if job is not None and job.client == client.name else None


async def get_task(request: Request, state: GatewayState) -> Response:
    client = await authenticate(request, state)
    raw = request.path_params["id"]
    job = await own_task(state, raw, client)
    if job is None:
        raise ModelNotFound(f"no task {raw[:40]!r}")
    return json_response(task_body(job))


async def list_tasks(request: Request, state: GatewayState) -> Response:
    client = await authenticate(request, state)
    raw_ids = [
        part for value in request.query_params.getlist("task_ids") for part in value.split(",")
    ]
    if not all(part.strip().isdigit() for part in raw_ids):
        raise InvalidParameter("task_ids must be integers")
    jobs = [await own_task(state, part.strip(), client) for part in raw_ids]
    return page(request, [task_body(job) for job in jobs if job is not None])


def routes() -> list[Route]:
    table: list[tuple[str, Handler, str]] = [
        ("/recognition/public", list_public, "GET"),
        ("/recognition/public/{name}", get_public, "GET"),
        ("/recognition/public/{name}/inference", inference("name"), "POST"),
        ("/recognition/specs", list_specs, "GET"),
        ("/recognition/specs/{id}", get_spec, "GET"),
        ("/recognition/specs/{id}/versions", spec_versions, "GET"),
        ("/recognition/specs/{id}/inference", inference("id"), "POST"),
        ("/recognition/versions", list_versions, "GET"),
        ("/recognition/versions/{id}", get_version, "GET"),
        ("/recognition/versions/{id}/inference", inference("id"), "POST"),
        ("/tasks", list_tasks, "GET"),
        ("/tasks/{id}", get_task, "GET"),
    ]
    return [
        Route(PREFIX + path + slash, endpoint(handler, error_response), methods=[method])
        for path, handler, method in table
        for slash in ("", "/")
    ]
