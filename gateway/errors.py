"""The gateway's one exception root. HTTP-free: dialects map these to responses by class.

    GatewayError                  root of everything the gateway raises on purpose
    ├── ConfigError               settings or model configuration are wrong (start-up)
    ├── ModelError                a model file cannot be loaded or its layout is not understood
    └── RequestError              something a client sent is wrong (a dialect answers 4xx)
        ├── InvalidImage          the image cannot be decoded or is of an unsupported format
        ├── InvalidParameter      a parameter is malformed or out of range
        ├── ModelNotFound         no model with that id is configured
        └── TaskMismatch          the model does not do what the route asks for

Messages are written for the person who caused the error: they name the field, the
model or the value at fault, and never contain secrets or image data.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """Settings or model configuration are invalid; raised at start-up."""


class ModelError(GatewayError):
    """A model file cannot be loaded, or its inputs/outputs are not understood."""


class RequestError(GatewayError):
    """A client error: the request itself is at fault."""


class InvalidImage(RequestError):
    """The image bytes cannot be decoded, or the format is not supported."""


class InvalidParameter(RequestError):
    """A request parameter is malformed or out of range."""


class ModelNotFound(RequestError):
    """No configured model has the requested id."""


class TaskMismatch(RequestError):
    """The model's task does not match what the request asks for."""
