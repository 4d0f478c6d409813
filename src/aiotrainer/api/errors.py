"""Errors of the HTTP control API and its client."""

from __future__ import annotations

from ..errors import AiotrainerError

__all__ = [
    "ApiError",
    "InsecureBindError",
    "RequestError",
    "ServerUnreachableError",
    "UnexpectedResponseError",
]


class ApiError(AiotrainerError):
    """Base class of the API's own errors."""


class InsecureBindError(ApiError, ValueError):
    """A non-loopback address was asked for without a token guarding the API."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"refusing to serve the control API on {host!r} without a token: "
            "anyone who can reach it could pause, save or stop the service. "
            "Set a token (create_app(service, token=...)) or bind 127.0.0.1"
        )


class RequestError(ApiError):
    """The server answered a request with an error.

    :param status_code: the HTTP status.
    :param message: the server's message.
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class ServerUnreachableError(ApiError, ConnectionError):
    """The client could not reach the server (refused, timed out, bad URL)."""


class UnexpectedResponseError(ServerUnreachableError):
    """The server answered, but not as the control API does (a wrong URL?).

    :param url: where the request went.
    :param problem: what is wrong with the answer.
    """

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(
            f"{url} did not answer as an aiotrainer control API ({problem}); "
            "is the URL right?"
        )
