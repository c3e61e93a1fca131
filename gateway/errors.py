"""The gateway's one exception root. HTTP-free: dialects map these to responses by class.

    GatewayError                  root of everything the gateway raises on purpose
    ├── ConfigError               settings or model configuration are wrong (start-up)
    ├── ModelError                a model file cannot be loaded or its layout is not understood
    ├── RequestError              something a client sent is wrong (a dialect answers 4xx)
    │   ├── InvalidImage          the image cannot be decoded or is of an unsupported format
    │   ├── InvalidParameter      a parameter is malformed or out of range
    │   ├── UrlRefused            an image URL the gateway will not fetch (scheme, address)
    │   ├── ModelNotFound         no model with that id is configured
    │   ├── TaskMismatch          the model does not do what the route asks for
    │   ├── PayloadTooLarge       the body (or a fetched image) is over its size limit
    │   ├── UnsupportedMediaType  the body's Content-Type is not one the route reads
    │   ├── NotAcceptable         no response type the client accepts can be produced
    │   ├── RequestTimeout        the client did not send its request in time
    │   ├── Unauthorized          no API key, or one the gateway does not know
    │   └── Forbidden             the key is valid but not for this model
    └── Unavailable               the gateway cannot serve right now (not ready, overloaded)

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


class UrlRefused(RequestError):
    """An image URL the gateway will not fetch: bad scheme, non-public address, loops."""


class ModelNotFound(RequestError):
    """No configured model has the requested id."""


class TaskMismatch(RequestError):
    """The model's task does not match what the request asks for."""


class PayloadTooLarge(RequestError):
    """The request body, or an image fetched for it, is over its size limit."""


class UnsupportedMediaType(RequestError):
    """The request's Content-Type is not one the route reads."""


class NotAcceptable(RequestError):
    """The client accepts no response type the route can produce."""


class RequestTimeout(RequestError):
    """The client did not send the whole request within the deadline."""


class Unauthorized(RequestError):
    """No API key was given, or the key is not one the gateway knows."""


class Forbidden(RequestError):
    """The API key is valid but may not use this model."""


class Unavailable(GatewayError):
    """The gateway cannot serve the request right now; the client may retry."""

    def __init__(self, message: str, retry_after: int = 1, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.reason = reason  # gateway_rejections_total's label


class TooManyRequests(Unavailable):
    """The API key is over its request rate or its concurrent requests (429)."""
