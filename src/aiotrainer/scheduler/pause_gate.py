"""Pausing and resuming through events, on the loop and in worker threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from ._loop import LoopCaller

__all__ = ["PauseGate", "PauseGateStatistics", "pause_point"]

_current = threading.local()


def pause_point() -> None:
    """Block this worker thread while the service is paused.

    Call it from inside a long ``train()`` (between steps) so that a pause takes
    effect mid-run: ``await service.pause()`` then counts this run as parked and
    returns. Outside a run started by aiotrainer it returns at once, so trainers
    keep working in plain scripts.
    """
    gate: PauseGate | None = getattr(_current, "gate", None)
    if gate is not None:
        gate.park_if_paused()


@dataclass(frozen=True)
class PauseGateStatistics:
    """A snapshot of a :class:`PauseGate`."""

    paused: bool
    running: int
    parked: int


class PauseGate:
    """Gate dispatch and in-flight runs on a paused/resumed state.

    The loop side: :meth:`wait_resumed`, :meth:`run_started` /
    :meth:`run_finished` around each run, and ``await`` :meth:`pause` that returns
    once every run has finished or is parked at a :func:`pause_point`. The thread
    side: :meth:`park_if_paused`. Must be created on the event loop.
    """

    def __init__(self) -> None:
        self._call = LoopCaller()
        self._paused = False
        self._released = False
        self._resumed = anyio.Event()
        self._resumed.set()
        self._changed = anyio.Event()
        self._lock = threading.Lock()
        self._unparked = threading.Condition(self._lock)
        self._blocking = False  # pause points block: paused and not released
        self._running = 0
        self._parked = 0
        # Bumped by every release of parked threads: a thread parked in an older
        # generation was already counted out when it was released.
        self._generation = 0
        self._pause_listeners: list[Callable[[], object]] = []

    @property
    def paused(self) -> bool:
        """Whether the gate is paused."""
        return self._paused

    def statistics(self) -> PauseGateStatistics:
        """The state and the counts of running and parked runs."""
        with self._lock:
            return PauseGateStatistics(self._paused, self._running, self._parked)

    # -- loop side -------------------------------------------------------------

    def _add_pause_listener(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` (on the loop) each time the gate closes; it must
        not raise (the scheduler's only nudges waiting workers)."""
        self._pause_listeners.append(listener)

    def pause_nowait(self) -> bool:
        """Close the gate: no new run starts. Idempotent.

        :return: True if this call paused it, False if it was already paused.
        """
        if self._paused:
            return False
        self._paused = True
        self._resumed = anyio.Event()
        with self._lock:
            if not self._released:
                self._blocking = True
        for listener in self._pause_listeners:
            listener()
        return True

    async def pause(self) -> bool:
        """Close the gate and wait until no run is in flight but parked ones.

        :return: True if this call paused it.
        """
        changed = self.pause_nowait()
        await self.wait_quiescent()
        return changed

    def resume(self) -> bool:
        """Open the gate; parked runs continue. Idempotent.

        :return: True if this call resumed it.
        """
        if not self._paused:
            return False
        self._paused = False
        self._unpark_all()
        self._resumed.set()
        return True

    def release_threads(self) -> None:
        """Let parked runs continue for good, paused or not (used at shutdown)."""
        self._released = True
        self._unpark_all()

    def _unpark_all(self) -> None:
        # Parked threads count as running from this moment, before they wake:
        # a pause() right after must wait for them to park again or finish.
        with self._lock:
            self._generation += 1
            self._parked = 0
            self._blocking = False
            self._unparked.notify_all()

    async def wait_resumed(self) -> None:
        """Return when the gate is open."""
        while self._paused:
            await self._resumed.wait()

    async def wait_quiescent(self) -> None:
        """Return when every run in flight is parked (or none is in flight)."""
        await self._wait_counts(lambda: self._running <= self._parked)

    async def wait_idle(self) -> None:
        """Return when no run is in flight at all (parked ones included)."""
        await self._wait_counts(lambda: self._running == 0)

    async def _wait_counts(self, done: Callable[[], bool]) -> None:
        # ``done`` reads the counts under the lock; every change sets _changed.
        while True:
            with self._lock:
                if done():
                    return
                if self._changed.is_set():
                    self._changed = anyio.Event()
                changed = self._changed
            await changed.wait()

    def run_started(self) -> None:
        """Count a run in flight; call on the loop right after checking ``paused``."""
        with self._lock:
            self._running += 1

    def run_finished(self) -> None:
        """Count a run as finished; call on the loop."""
        with self._lock:
            self._running -= 1
        self._changed.set()

    # -- thread side -----------------------------------------------------------

    def bind_thread(self) -> None:
        """Make :func:`pause_point` in this worker thread use this gate."""
        _current.gate = self

    @staticmethod
    def unbind_thread() -> None:
        """Undo :meth:`bind_thread`."""
        _current.gate = None

    def park_if_paused(self) -> None:
        """Block the calling worker thread while the gate is paused."""
        if not self._blocking:  # the fast path, without the lock
            return
        with self._unparked:
            while self._blocking:
                self._parked += 1
                generation = self._generation
                self._call(self._notify)
                # Wait for the release that counts this thread out, not for a
                # flag: resume() then pause() before this thread wakes would
                # leave a flag as it was, and this thread asleep while counted
                # as running, and the pause waiting for it for ever.
                while generation == self._generation:
                    self._unparked.wait()

    def _notify(self) -> None:
        self._changed.set()
