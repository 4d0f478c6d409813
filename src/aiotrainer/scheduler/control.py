"""Pausing and resuming a running service, bounded and undoable."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ..events import EventKind, ServiceEvent
from ..status import ServiceState, TrainerState
from ..trainer.base import Trainer
from ..trainer.dicts import TrainersDict
from .errors import PauseTimeoutError, ServiceStateError
from .pause_gate import PauseGate
from .scheduler import Scheduler

__all__ = ["PauseControl"]

logger = logging.getLogger("aiotrainer.service")

InThread = Callable[[Callable[[], Any]], Awaitable[Any]]


def _pause_hooks(trainers: TrainersDict) -> None:
    """``on_paused()`` on each trainer; if one raises, the trainers that already
    got it get ``on_resumed()``, then the error is raised (in a worker thread)."""
    done: list[Trainer] = []
    try:
        for trainer in trainers.values():
            trainer.on_paused()
            done.append(trainer)
    except BaseException:
        for trainer in reversed(done):
            try:
                trainer.on_resumed()
            except Exception:
                logger.exception("on_resumed() raised while undoing a failed pause")
        raise


def _quiescent(gate: PauseGate) -> bool:
    """Whether every run in flight is parked (or none is in flight)."""
    stats = gate.statistics()
    return stats.running <= stats.parked


class PauseControl:
    """The service's ``pause()`` / ``resume()`` and the capture's quiescence.

    :param trainers: the trainers whose pause hooks run.
    :param in_thread: runs a blocking callable (the hooks) in a worker thread.
    :param emit: sends a service event.
    :param get_state: the service's life-cycle state.
    :param set_state: changes it (running <-> paused).
    :param pause_clock: stops (``True``) or restarts (``False``) the clock
        (:mod:`aiotrainer.time`) with the pause, as pamiq-core's launcher does.
    """

    def __init__(
        self,
        trainers: TrainersDict,
        *,
        in_thread: InThread,
        emit: Callable[[ServiceEvent], None],
        get_state: Callable[[], ServiceState],
        set_state: Callable[[ServiceState], None],
        pause_clock: Callable[[bool], None] = lambda _: None,
    ) -> None:
        self._trainers = trainers
        self._in_thread = in_thread
        self._emit = emit
        self._get_state = get_state
        self._set_state = set_state
        self._pause_clock = pause_clock
        self._transition = anyio.Lock()
        self._pending: set[anyio.CancelScope] = set()
        self._gate: PauseGate | None = None
        self._scheduler: Scheduler | None = None

    def bind(self, gate: PauseGate, scheduler: Scheduler) -> None:
        """Control this gate and scheduler (once the service starts)."""
        self._gate, self._scheduler = gate, scheduler

    def _require_running(self, verb: str) -> PauseGate:
        state = self._get_state()
        if self._gate is None or state in (ServiceState.CREATED, ServiceState.STARTING):
            raise ServiceStateError(
                f"cannot {verb}: service not started; use 'async with TrainerService(...)'"
            )
        if state in (ServiceState.STOPPING, ServiceState.STOPPED):
            raise ServiceStateError(f"cannot {verb}: the service is {state.value}")
        return self._gate

    def _still_running(self) -> list[str]:
        assert self._scheduler is not None
        return sorted(
            name
            for name, status in self._scheduler.trainer_statuses().items()
            if status.state is TrainerState.RUNNING
        )

    @asynccontextmanager
    async def _quiescing(
        self, gate: PauseGate, within: float | None, *, for_pause: bool
    ) -> AsyncIterator[bool]:
        """Close the gate and wait until every run in flight is parked, within
        ``within`` seconds; on timeout, cancellation or (``for_pause``) a ``resume()``
        the gate is opened again (if this closed it). Yields whether this
        closed it."""
        paused_here = gate.pause_nowait()
        scope = anyio.CancelScope()
        if for_pause:
            self._pending.add(scope)
        try:
            with scope:
                if self._scheduler is not None:
                    await self._scheduler.lingerers_back()
                with anyio.move_on_after(within) as bound:
                    await gate.wait_quiescent()
            if bound.cancelled_caught and not _quiescent(gate):
                # Runs that ended just as the bound expired made it quiescent: the
                # pause took effect. Otherwise some run is in flight, unparked,
                # so its trainer shows as running: the error names it.
                raise PauseTimeoutError(within, self._still_running())
            if scope.cancelled_caught:
                raise ServiceStateError("the pause was cancelled by resume()")
        except BaseException:
            if paused_here:
                gate.resume()
            raise
        finally:
            self._pending.discard(scope)
        yield paused_here

    async def pause(self, within: float | None = None) -> None:
        """See :meth:`TrainerService.pause` (``within`` is its ``timeout``)."""
        gate = self._require_running("pause")
        async with self._transition:
            if self._get_state() is not ServiceState.RUNNING:
                return
            async with self._quiescing(gate, within, for_pause=True) as paused_here:
                try:
                    if self._get_state() is not ServiceState.RUNNING:
                        return  # shutdown began meanwhile: it owns the gate now
                    await self._in_thread(lambda: _pause_hooks(self._trainers))
                except BaseException:
                    # Cancelled, or an on_paused() raised: the pause did not
                    # happen. A gate left closed would hold every trainer while
                    # the state says running and resume() does nothing.
                    if paused_here:
                        gate.resume()
                    raise
            if self._get_state() is ServiceState.RUNNING:
                self._set_state(ServiceState.PAUSED)
                self._pause_clock(True)
                self._emit(ServiceEvent(EventKind.PAUSED))

    async def resume(self) -> None:
        """See :meth:`TrainerService.resume`."""
        gate = self._require_running("resume")
        for pending in self._pending:
            pending.cancel()  # a pause still waiting for runs is called off
        async with self._transition:
            if self._get_state() is not ServiceState.PAUSED:
                return
            self._pause_clock(False)
            try:
                await self._in_thread(self._trainers.on_resumed)
            finally:
                # An on_resumed() that raises must not keep the service paused
                # for good: every later resume() would call it and fail again.
                gate.resume()
                if self._get_state() is ServiceState.PAUSED:  # not stopping
                    self._set_state(ServiceState.RUNNING)
                    self._emit(ServiceEvent(EventKind.RESUMED))

    @asynccontextmanager
    async def quiesced(self, within: float | None = None) -> AsyncIterator[None]:
        """Hold trainers still (no run in flight but parked ones) for a capture.

        :raises PauseTimeoutError: when runs are still in flight after ``within``
            seconds.
        """
        gate = self._gate
        state = self._get_state()
        if gate is None or state is ServiceState.STOPPED:
            yield  # nothing runs any more
            return
        if state is ServiceState.STOPPING:
            # nothing new is dispatched; wait out the runs still finishing (the
            # shutdown bounds them), so no model is captured mid-train()
            with anyio.move_on_after(within) as bound:
                await gate.wait_idle()
            if bound.cancelled_caught and gate.statistics().running:
                raise PauseTimeoutError(within, self._still_running())
            yield
            return
        async with (
            self._transition,
            self._quiescing(gate, within, for_pause=False) as paused_here,
        ):
            try:
                yield
            finally:
                if paused_here:
                    gate.resume()
