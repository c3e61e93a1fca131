"""The account API the roboflow SDK calls before predicting, built from the model config.

    POST /?api_key=K                       key check -> {"workspace": ws}
    GET  /{ws}?api_key=K                   the workspace and its projects
    GET  /{ws}/{project}?api_key=K         a project (one per model id prefix) and versions
    GET  /{ws}/{project}/{version}         one version (roboflow 1.1.36+ asks for it)

Each model `project/version` is a project with that version; its task is the project
type. The workspace is the config's `workspace:`; `GET /{ws}/{project}` is told apart
from the inference `GET /{project}/{version}` by its first segment (config validation
keeps the workspace name distinct from every project name).

No `preprocessing.resize` is advertised: with a "Stretch" resize the SDK shrinks large
images itself and rescales (and truncates) every box, even for images it did not shrink.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.dialects.http import bearer_or_query_key, json_response
from gateway.dialects.roboflow.names import TASK_TYPES
from gateway.errors import ModelNotFound
from gateway.model import Model
from gateway.render import colour
from gateway.state import GatewayState


def _hex(class_id: int) -> str:
    b, g, r = colour(class_id)
    return f"#{r:02X}{g:02X}{b:02X}"


def version_body(workspace: str, model: Model) -> dict[str, Any]:
    project, version = model.id.split("/")
    trained = {
        "id": model.id,
        "name": model.id,
        "type": TASK_TYPES[model.task],
        "classes": list(model.spec.class_names),
    }
    return {
        "id": f"{workspace}/{project}/{version}",
        "name": model.id,
        "version": version,
        "created": 0,
        "images": 0,
        "splits": {},
        "augmentation": {},
        "preprocessing": {},
        "exports": [],
        "model": trained,
        "models": [model.id],
        "train": {"model": trained},
    }


def project_body(workspace: str, project: str, models: list[Model]) -> dict[str, Any]:
    names = models[0].spec.class_names
    return {
        "project": {
            "id": f"{workspace}/{project}",
            "name": project,
            "type": TASK_TYPES[models[0].task],
            "created": 0,
            "updated": 0,
            "annotation": project,
            "classes": {name: 0 for name in names},
            "colors": {name: _hex(i) for i, name in enumerate(names)},
            "images": 0,
            "unannotated": 0,
            "public": False,
            "splits": {},
            "versions": len(models),
        },
        "versions": [version_body(workspace, m) for m in models],
    }


def _projects(state: GatewayState) -> dict[str, list[Model]]:
    projects: dict[str, list[Model]] = {}
    for model in state.registry:
        if model.task in TASK_TYPES:  # matting has no Roboflow project type
            projects.setdefault(model.id.split("/")[0], []).append(model)
    return projects


async def check_key(request: Request, state: GatewayState) -> Response:
    await state.access.identify(bearer_or_query_key(request))
    return json_response({"workspace": state.workspace})


async def workspace(request: Request, state: GatewayState) -> Response:
    if request.path_params["workspace"] != state.workspace:
        raise ModelNotFound(f"no workspace '{request.path_params['workspace']}'")
    await state.access.identify(bearer_or_query_key(request))
    projects = [
        project_body(state.workspace, name, models)["project"]
        for name, models in _projects(state).items()
    ]
    body = {"name": state.workspace, "url": state.workspace, "projects": projects, "members": []}
    return json_response({"workspace": body})


async def project(request: Request, state: GatewayState, name: str) -> Response:
    await state.access.identify(bearer_or_query_key(request))
    models = _projects(state).get(name)
    if not models:
        raise ModelNotFound(f"no project '{name}' in workspace '{state.workspace}'")
    return json_response(project_body(state.workspace, name, models))


async def version(request: Request, state: GatewayState) -> Response:
    params = request.path_params
    if params["workspace"] != state.workspace:
        raise ModelNotFound(f"no workspace '{params['workspace']}'")
    await state.access.identify(bearer_or_query_key(request))
    model = state.registry.get(f"{params['project']}/{params['version']}")
    if model.task not in TASK_TYPES:
        raise ModelNotFound(f"no Roboflow project serves model '{model.id}'")
    return json_response({"version": version_body(state.workspace, model)})
