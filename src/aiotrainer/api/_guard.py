"""The ASGI middleware in front of every route: the token and the body limit."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["OPEN_PATHS", "BodyTooLargeError", "Guard"]

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths served without the token (health checks)."""


class BodyTooLargeError(Exception):
    """The request body went past the limit while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than the limit of {limit} bytes")
        self.limit = limit


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


async def _error(
    send: Send, status: int, error: str, message: str, **headers: str
) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ] + [(k.encode().replace(b"_", b"-"), v.encode()) for k, v in headers.items()]
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Check the bearer token (constant time) and bound the request body.

    A body announced larger than ``max_body_bytes`` is refused with 413 before a
    byte of it is read; a body without a length is counted as it arrives, and
    reading past the limit raises :class:`BodyTooLargeError` (answered with 413).

    :param app: the app behind it.
    :param token: the bearer token, or ``None`` for no authentication.
    :param max_body_bytes: the largest request body accepted.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self._app = app
        self._token = None if token is None else token.encode()
        self._limit = max_body_bytes

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return False
                return hmac.compare_digest(credentials.strip(), self._token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        guarded = scope["method"] != "OPTIONS" and _route_path(scope) not in OPEN_PATHS
        if guarded and not self._authorized(scope):
            await _error(
                send,
                401,
                "unauthorized",
                "missing or wrong bearer token; send 'Authorization: Bearer <token>'",
                www_authenticate="Bearer",
            )
            return
        length = _content_length(scope)
        if length is None:
            await _error(send, 400, "bad_request", "invalid Content-Length header")
            return
        if length > self._limit:
            await _error(
                send,
                413,
                "body_too_large",
                f"request body of {length} bytes is over the limit of "
                f"{self._limit} bytes",
            )
            return
        await self._app(scope, self._bounded(receive), send)

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0
        limit = self._limit

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        return bounded_receive


def _content_length(scope: Scope) -> int | None:
    """The announced body length (0 if none), or ``None`` if it is malformed."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text: Any = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                return None
            return int(text)
    return 0
