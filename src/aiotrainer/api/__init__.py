"""The HTTP control API: ``create_app(service)``, :func:`serve` (with
:func:`bind`), and a client."""

from __future__ import annotations

from .app import DEFAULT_MAX_BODY_BYTES, create_app
from .client import ApiClient
from .errors import ApiError, InsecureBindError, RequestError, ServerUnreachableError
from .server import bind, is_loopback, serve

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ApiClient",
    "ApiError",
    "InsecureBindError",
    "RequestError",
    "ServerUnreachableError",
    "bind",
    "create_app",
    "is_loopback",
    "serve",
]
