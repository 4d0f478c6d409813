"""Serve the API with uvicorn inside the caller's task group.

No side thread, no signal handlers of its own (the daemon owns the signals), no
10 Hz tick: the server waits on an event until its task is cancelled, then shuts
down gracefully (open event streams end first) within a bound.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.types import ASGIApp

from .app import ApiContext
from .errors import InsecureBindError

__all__ = ["bind", "is_loopback", "serve"]

logger = logging.getLogger("aiotrainer.api")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1``,
    ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn's server without signal handlers and without its polling tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()
        self.exit_requested = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller (the daemon) handles signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # the default headers, once
        await self.exit_requested.wait()

    def request_exit(self) -> None:
        self.should_exit = True
        self.exit_requested.set()


def _check_port(port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535, got {port!r}")


def bind(host: str = "127.0.0.1", port: int = 8470) -> socket.socket:
    """Bind and listen on ``host:port``; return the socket for :func:`serve`.

    For a program that wants a busy port to fail before it starts anything
    else: ``sock = bind(host, port)`` first, ``serve(app, sock=sock)`` later.

    :param host: the address to bind.
    :param port: the TCP port, 0 for any free one.
    :raises ValueError: for a bad port.
    :raises OSError: when the address cannot be bound (e.g. in use).
    :return: a listening, non-blocking socket; the caller closes it unless
        :func:`serve` took it.
    """
    _check_port(port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _listening(
    app: ASGIApp,
    host: str | None,
    port: int | None,
    sock: socket.socket | None,
    shutdown_timeout: float,
) -> tuple[socket.socket, str]:
    """Check :func:`serve`'s arguments; return the socket to serve on (bound
    now unless given) and its host."""
    if sock is not None and (host is not None or port is not None):
        raise ValueError(
            "pass either sock (from bind()) or host and port, not both; got "
            f"host={host!r}, port={port!r}"
        )
    if sock is None:
        host = "127.0.0.1" if host is None else host
        _check_port(8470 if port is None else port)
    else:
        host = str(sock.getsockname()[0])
    if not shutdown_timeout > 0:
        raise ValueError(f"shutdown_timeout must be > 0, got {shutdown_timeout!r}")
    state: Any = getattr(app, "state", None)
    context = getattr(state, "aiotrainer", None)
    if not is_loopback(host) and not (
        isinstance(context, ApiContext) and context.requires_token
    ):
        raise InsecureBindError(host)
    if sock is None:
        sock = bind(host, 8470 if port is None else port)
    return sock, host


async def serve(
    app: ASGIApp,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    shutdown_timeout: float = 5.0,
    log_level: str = "warning",
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until this task is cancelled; then shut down gracefully.

    ``port = await task_group.start(serve, app, port=0)`` returns once the socket
    is bound and accepting, with the port it got (0 asks for a free one).
    Cancelling the task group ends the app's event streams, lets requests in
    flight finish (at most ``shutdown_timeout`` seconds), and returns.

    With ``sock`` (from :func:`bind`), it serves on that socket instead of
    binding one, and closes it when it returns, whatever happens.

    :param app: an app from :func:`create_app` (or any ASGI app, on loopback).
    :param host: the address to bind (``127.0.0.1`` by default); a non-loopback
        one needs an app with a token.
    :param port: the TCP port (8470 by default), 0 for any free one.
    :param sock: a listening socket from :func:`bind`, instead of ``host`` and
        ``port``.
    :param shutdown_timeout: seconds requests in flight get at shutdown.
    :param log_level: uvicorn's log level.
    :raises InsecureBindError: for a non-loopback host without a token.
    :raises ValueError: for a bad port or timeout, or ``sock`` given with
        ``host`` or ``port``.
    :raises OSError: when the address cannot be bound (e.g. in use).
    """
    try:
        sock, host = _listening(app, host, port, sock, shutdown_timeout)
    except BaseException:
        if sock is not None:
            sock.close()  # taken over: closed whatever happens
        raise
    bound_port: int = sock.getsockname()[1]
    context = getattr(getattr(app, "state", None), "aiotrainer", None)
    with sock:  # closed on every way out, also if cancelled before serving
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level=log_level,
            access_log=False,
            proxy_headers=False,  # no proxy in front by default: trust no X-Forwarded-*
            date_header=False,  # no tick refreshes it; a stale Date is worse than none
            timeout_graceful_shutdown=max(1, round(shutdown_timeout)),
        )
        server = _Server(config)
        stopped = anyio.Event()

        async def run_server() -> None:
            try:
                # shielded: cancelling the caller starts a graceful shutdown instead
                with anyio.CancelScope(shield=True):
                    await server.serve(sockets=[sock])
            finally:
                stopped.set()
                server.ready.set()
                sock.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server, name="uvicorn")
            try:
                await server.ready.wait()
                if not server.started:
                    raise RuntimeError(
                        f"the API server on {host}:{bound_port} did not start"
                    )
                logger.info("control API listening on http://%s:%d", host, bound_port)
                task_status.started(bound_port)
                await stopped.wait()  # only if the server stopped on its own
            finally:
                with anyio.CancelScope(shield=True):
                    if isinstance(context, ApiContext):
                        await context.event_streams.close_all()
                    server.request_exit()
                    with anyio.move_on_after(shutdown_timeout + 2):
                        await stopped.wait()
                    if not stopped.is_set():
                        server.force_exit = True
