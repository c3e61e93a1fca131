"""Logging set-up, the same in the CLI process and in every server worker.

GATEWAY_LOG_FORMAT=json (the default) writes each record as one JSON object on one line:
`ts`, `level`, `logger`, `message`, `request_id` while a request is being handled, the
record's extra fields (the access log's method, path, status, ...) and `exc` for a
traceback. `text` writes `LEVEL logger: message [request id]` for people at a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from gateway import context

LOG_FORMATS = ("json", "text")
FORMAT_ENV = "GATEWAY_LOG_FORMAT"
# Attributes every LogRecord has: anything else on a record came in through `extra`.
STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    """Gives each record emitted while a request is handled that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request = context.current()
            if request is not None:
                record.request_id = request.request_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [{request_id}]" if request_id else text


def log_format_from_env() -> str:
    """GATEWAY_LOG_FORMAT, or json when it is unset or not a format (the settings refuse
    such a value with a message; logging has to start before they are read)."""
    value = os.environ.get(FORMAT_ENV, "").strip().lower()
    return value if value in LOG_FORMATS else "json"


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `log_format` lines to `stream` (stderr), request ids attached."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(log_format: str | None = None) -> None:
    """Root logging at INFO in `log_format` (default: GATEWAY_LOG_FORMAT, else json);
    calling it again replaces the handler."""
    handler = log_handler(log_format or log_format_from_env())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
