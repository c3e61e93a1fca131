"""What the gateway knows about the HTTP request being handled, wherever it is handled.

The request observer (gateway/observe.py) binds a RequestContext for each HTTP request;
code deeper down records what it learns on it (the model the request used, the name
of its API key) for the access log and the request metrics, and log records carry the
request's id (gateway/logs.py). A context variable reaches the handler's own task and
the worker threads it starts (anyio copies the context), and no other request.
Outside a request (start-up, background tasks) there is no context and the notes
below do nothing.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class RequestContext:
    request_id: str
    model: str = ""  # a configured model's id, once the request resolved one
    client: str = ""  # the name of the request's API key (never the key), once checked
    rejected: bool = False  # counted as a rejection already (gateway_rejections_total)


_current: ContextVar[RequestContext | None] = ContextVar("gateway_request", default=None)


def current() -> RequestContext | None:
    """The context of the request being handled, if any."""
    return _current.get()


def bind(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def unbind(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def note_model(model_id: str) -> None:
    """The request uses this (configured) model."""
    context = _current.get()
    if context is not None:
        context.model = model_id


def note_client(name: str) -> None:
    """The request's API key is the one with this name."""
    context = _current.get()
    if context is not None:
        context.client = name


def note_rejected() -> None:
    """The request was refused for load, and the refusal counted."""
    context = _current.get()
    if context is not None:
        context.rejected = True
