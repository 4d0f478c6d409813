"""The daemon: a service, its sources and its add-ons under one task group.

``aiotrainer run CONFIG`` runs :class:`Daemon`. It locks the state directory,
binds the HTTP API's port (``api.enabled``: a busy port fails before anything
is restored), builds the service and the sources from the config, starts the
service, then the sources, then the add-ons (the HTTP API first), and runs
until a signal, ``run.max_uptime``, ``run.max_runs`` or a trainer's error stops
it. A stop asked for during the start-up (the restore) ends it as soon as the
restore returns, with nothing else started and no final checkpoint.

Shutdown is graceful and ordered: the sources stop first (no new data), then
the service (no new runs; runs in flight finish within
``workers.shutdown_timeout``; a final checkpoint), then the add-ons. A second
SIGINT during it exits at once (status 130) without waiting for runs in flight
and without a final save: checkpoints are atomic, so the last one stays whole,
and the kernel releases the state directory's lock.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import functools
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from .config.building import Source
from .config.models import ServiceConfig
from .events import EventKind
from .scheduler.errors import TrainerFailedError
from .service import TrainerService, _leaves
from .state.lock import StateDirLock
from .status import ServiceState, ServiceStatus

__all__ = [
    "AddOn",
    "Daemon",
    "DaemonResult",
    "ProgressView",
    "StopReason",
    "serve_api",
    "trainer_metrics",
]

logger = logging.getLogger("aiotrainer.daemon")

AddOn = Callable[[TrainerService, ServiceConfig], Coroutine[Any, Any, None]]
"""Runs beside the service (e.g. the HTTP API) until cancelled, after the service
has stopped."""


class StopReason(enum.StrEnum):
    """Why a daemon run ended."""

    SIGNAL = "signal"
    MAX_UPTIME = "max_uptime"
    MAX_RUNS = "max_runs"
    TRAINER_FAILED = "trainer_failed"
    SOURCE_FAILED = "source_failed"
    REQUESTED = "requested"


_EXIT_CODES = {
    StopReason.TRAINER_FAILED: 1,
    StopReason.SOURCE_FAILED: 1,
}


@dataclass(frozen=True)
class DaemonResult:
    """How a daemon run ended.

    :param reason: why it stopped.
    :param detail: a line about it (the signal, the error).
    :param status: the service's last status.
    :param metrics: each trainer's last ``metrics()``.
    :param uptime: seconds from the service's start to its stop.
    """

    reason: StopReason
    detail: str
    status: ServiceStatus
    metrics: Mapping[str, Mapping[str, float]]
    uptime: float

    @property
    def exit_code(self) -> int:
        """0 for a graceful stop, 1 after a trainer's or a source's failure."""
        return _EXIT_CODES.get(self.reason, 0)


class ProgressView(Protocol):
    """Where the daemon shows its progress (see :mod:`aiotrainer._progress`)."""

    def update(
        self,
        status: ServiceStatus,
        metrics: Mapping[str, Mapping[str, float]],
        uptime: float,
    ) -> None:
        """Show the current state (called at most every ``interval`` seconds)."""

    def close(self) -> None:
        """Stop showing it."""


def trainer_metrics(status: ServiceStatus) -> dict[str, dict[str, float]]:
    """Each trainer's last logged metrics (:meth:`Trainer.log_metrics`) in
    ``status``, by name; trainers that logged none are left out."""
    return {
        name: dict(trainer.metrics)
        for name, trainer in status.trainers.items()
        if trainer.metrics
    }


def _bind_api(config: ServiceConfig) -> socket.socket:
    """Bind ``api.host:api.port`` for :func:`serve_api`.

    :raises ConfigError: naming ``api.host`` or ``api.port`` when it cannot.
    """
    from .api import bind
    from .config.errors import ConfigError

    api = config.api
    try:
        return bind(api.host, api.port)
    except OSError as exc:
        # an unknown name or an address not on this machine: the host is wrong
        wrong_host = isinstance(exc, socket.gaierror) or (
            exc.errno == errno.EADDRNOTAVAIL
        )
        field = "api.host" if wrong_host else "api.port"
        raise ConfigError(
            [f"{field}: cannot listen on {api.host}:{api.port}: {exc}"]
        ) from None


async def serve_api(
    service: TrainerService,
    config: ServiceConfig,
    token: str | None = None,
    *,
    sock: socket.socket | None = None,
) -> None:
    """The daemon's add-on that serves the HTTP control API (``api.enabled``).

    Runs uvicorn in this task until cancelled (then shuts it down gracefully);
    logs the address it bound, port 0 resolved.

    :param token: the bearer token, resolved from the config beforehand.
    :param sock: the socket bound for ``api.host:api.port`` beforehand (the
        daemon binds it before it restores anything, so that a busy port fails
        at once); it is closed when this returns or raises, cancelled
        included. Without it, this binds.
    :raises ConfigError: when the address cannot be bound.
    """
    from .api import create_app, serve

    api = config.api
    try:
        app = create_app(
            service,
            token=token,
            max_body_bytes=api.max_body_bytes,
            cors_origins=api.cors_origins,
        )
        if sock is None:
            sock = _bind_api(config)
        async with anyio.create_task_group() as tg:
            port = await tg.start(functools.partial(serve, app, sock=sock))
            logger.info(
                "HTTP API on http://%s:%d (%s)",
                api.host,
                port,
                "bearer token required" if token else "no token: loopback only",
            )
    finally:
        # serve() closes it once it runs; not if create_app() raised or this
        # was cancelled before serve() began (closing twice is harmless)
        if sock is not None:
            sock.close()


class Daemon:
    """Run a :class:`TrainerService` from a config, with its sources and add-ons.

    With ``api.enabled``, the HTTP control API (:func:`serve_api`) is the first
    add-on.

    :param config: the checked config.
    :param progress: where to show progress, if anywhere.
    :param handle_signals: stop on SIGINT/SIGTERM (main thread only).
    :param add_ons: coroutines run beside the service, e.g. the HTTP API.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        progress: ProgressView | None = None,
        handle_signals: bool = True,
        add_ons: Sequence[AddOn] = (),
    ) -> None:
        self.config = config
        self._progress = progress
        self._handle_signals = handle_signals
        self._add_ons = list(add_ons)
        self._stop: anyio.Event | None = None
        self._reason: tuple[StopReason, str] | None = None
        self._started: float | None = None
        self.service: TrainerService | None = None

    def request_stop(
        self, reason: StopReason = StopReason.REQUESTED, detail: str = ""
    ) -> None:
        """Begin a graceful stop (the first reason given is kept)."""
        if self._reason is None:
            self._reason = (reason, detail)
            logger.info("stopping: %s", detail or reason.value)
        if self._stop is not None:
            self._stop.set()
        service = self.service
        if service is not None and service.state is ServiceState.STARTING:
            # during the restore: the service ends as soon as it returns
            service.stop_nowait()

    async def run(self) -> DaemonResult:
        """Lock the state dir, build everything, run until stopped.

        :raises StateDirLockedError: when another process uses the state dir.
        :raises StateRootError: when the state dir cannot be created.
        :raises ConfigError: when a component cannot be built.
        :return: why and how it ended.
        """
        if self.config.run.switch_interval is not None:
            sys.setswitchinterval(self.config.run.switch_interval)
            logger.info("GIL switch interval: %g s", self.config.run.switch_interval)
        token = None
        if self.config.api.enabled:  # a bad token source fails before anything runs
            token = self.config.api.resolve_token()
        state_dir = self.config.state.dir
        lock = StateDirLock(state_dir) if state_dir is not None else None
        if lock is not None:
            lock.acquire()
        api_sock: socket.socket | None = None
        try:
            if self.config.api.enabled:
                # Bound before anything is built or restored: a busy port fails
                # at once. Requests wait in its backlog until the API serves.
                sock = api_sock = _bind_api(self.config)
                self._add_ons.insert(
                    0,
                    lambda service, config: serve_api(
                        service, config, token, sock=sock
                    ),
                )
            service = self.service = self.config.build_service()
            sources = self.config.build_sources()
            self._log_plan(service, sources)
            self._stop = anyio.Event()
            if self._reason is not None:  # asked to stop before it ran
                self._stop.set()
            try:
                async with anyio.create_task_group() as outer:
                    if self._handle_signals:
                        outer.start_soon(self._watch_signals, name="signals")
                    await self._main(service, sources)
                    outer.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                leaves = _leaves(group)
                if len(leaves) == 1:  # e.g. a restore that failed: itself, unwrapped
                    raise leaves[0] from leaves[0].__cause__
                raise
        finally:
            if api_sock is not None:
                api_sock.close()  # when never served (closing twice is harmless)
            if lock is not None:
                lock.release()
        reason, detail = self._reason or (StopReason.REQUESTED, "")
        uptime = 0.0 if self._started is None else time.monotonic() - self._started
        status = service.status()
        metrics = trainer_metrics(status)
        if self._progress is not None:  # the final state, then the summary
            self._progress.update(status, metrics, uptime)
            self._progress.close()
        return DaemonResult(reason, detail, status, metrics, uptime)

    def _log_plan(self, service: TrainerService, sources: Mapping[str, Source]) -> None:
        def names(items: Any) -> str:
            return ", ".join(sorted(items)) or "none"

        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        logger.info(
            "starting pid %d on %s: models [%s], buffers [%s], trainers [%s], "
            "sources [%s]",
            os.getpid(),
            loop,
            names(service.training_models),
            names(service.data_users),
            names(service.trainers),
            names(sources),
        )
        st = self.config.state
        if st.dir is None:
            logger.info("no state.dir: nothing is saved")
        else:
            logger.info(
                "state dir %s (resume: %s, save every %s, final save: %s)",
                st.dir,
                st.resume,
                f"{st.save_interval:g} s" if st.save_interval else "never",
                "yes" if st.save_on_shutdown else "no",
            )
        run = self.config.run
        if run.max_uptime is not None or run.max_runs is not None:
            logger.info(
                "stops by itself after %s",
                " or ".join(
                    part
                    for part in (
                        run.max_uptime and f"{run.max_uptime:g} s",
                        run.max_runs and f"{run.max_runs} runs",
                    )
                    if part
                ),
            )

    async def _main(
        self, service: TrainerService, sources: Mapping[str, Source]
    ) -> None:
        assert self._stop is not None
        if self._stop.is_set():  # asked to stop before it started: no restore
            await service.stop()
            return
        async with anyio.create_task_group() as tg:
            await tg.start(self._serve, service, name="service")
            self._started = time.monotonic()  # the service logged its restore
            if self._stop.is_set():  # asked during the restore: start nothing
                await service.stop()
                tg.cancel_scope.cancel()
                return
            tg.start_soon(self._watch_events, service, name="events")
            if self.config.run.max_uptime is not None:
                tg.start_soon(self._stop_after, self.config.run.max_uptime)
            tg.start_soon(self._run_add_ons, service)
            fed = {self.config.sources[name].buffer for name in sources}
            # one collector per buffer, shared by the sources that feed it
            collectors = {b: service.data_collectors.acquire(b) for b in sorted(fed)}
            async with anyio.create_task_group() as feeding:
                for name, source in sources.items():
                    collector = collectors[self.config.sources[name].buffer]
                    feeding.start_soon(self._feed, name, source, collector)
                logger.info("running; SIGINT or SIGTERM stops it gracefully")
                await self._stop.wait()
                feeding.cancel_scope.cancel()  # sources stop first
            for buffer in collectors:
                service.data_collectors.release(buffer)
            await service.stop()
            tg.cancel_scope.cancel()

    async def _serve(
        self, service: TrainerService, *, task_status: TaskStatus[None]
    ) -> None:
        try:
            await service.run_until_stopped(task_status=task_status)
        except TrainerFailedError as exc:
            logger.error("%s", exc)
            self.request_stop(StopReason.TRAINER_FAILED, str(exc))
        else:
            self.request_stop(StopReason.REQUESTED, "the service stopped")

    async def _feed(self, name: str, source: Source, collector: Any) -> None:
        try:
            await source(collector)
        except Exception as exc:  # noqa: BLE001 - logged; the daemon stops
            logger.error("source %r failed: %s: %s", name, type(exc).__name__, exc)
            self.request_stop(StopReason.SOURCE_FAILED, f"source {name!r} failed")
        else:
            logger.info("source %r finished", name)

    async def _run_add_ons(self, service: TrainerService) -> None:
        async with anyio.create_task_group() as tg:
            for add_on in self._add_ons:
                tg.start_soon(add_on, service, self.config)

    async def _stop_after(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        self.request_stop(StopReason.MAX_UPTIME, f"max_uptime {seconds:g} s reached")

    async def _watch_events(self, service: TrainerService) -> None:
        max_runs = self.config.run.max_runs or math.inf
        interval = self.config.run.progress_interval
        last_shown = -math.inf
        async with service.events(max_buffer=4096) as events:
            async for event in events:
                if event.kind is not EventKind.FINISHED or not event.trained:
                    continue
                status = service.status()
                runs = sum(t.runs for t in status.trainers.values())
                if runs >= max_runs:
                    self.request_stop(
                        StopReason.MAX_RUNS,
                        f"max_runs {self.config.run.max_runs} reached",
                    )
                now = time.monotonic()
                if self._progress is not None and now - last_shown >= interval:
                    last_shown = now
                    self._progress.update(
                        status, trainer_metrics(status), now - (self._started or now)
                    )

    async def _watch_signals(self) -> None:
        signalled = False  # a stop already asked for by a signal
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            async for signum in received:
                name = signal.Signals(signum).name
                if self._reason is None:
                    self.request_stop(StopReason.SIGNAL, f"received {name}")
                elif signum == signal.SIGINT and signalled:
                    self._exit_now()
                else:  # stopping for another reason: the first signal waits too
                    logger.warning(
                        "received %s while stopping (%s); a second SIGINT exits at "
                        "once, without the final checkpoint",
                        name,
                        self._reason[1] or self._reason[0].value,
                    )
                signalled = True

    def _exit_now(self) -> None:
        """The second interrupt: leave at once, saying what is given up."""
        status = None if self.service is None else self.service.status()
        logger.critical(
            "second interrupt: exiting now, without waiting for %d run(s) in flight "
            "and without a final checkpoint (the last one: %s)",
            0 if status is None else status.running_trainers,
            (status and status.last_checkpoint) or "none",
        )
        if self._progress is not None:
            self._progress.close()
        for handler in logging.getLogger("aiotrainer").handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
