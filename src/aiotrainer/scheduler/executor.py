"""Where a run happens: the executor seam, and the local worker-thread pool."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread

from .._validate import check_int
from ._loop import LoopCaller
from .pause_gate import PauseGate

__all__ = ["Executor", "LocalExecutor"]

T = TypeVar("T")


@runtime_checkable
class Executor(Protocol):
    """Runs a blocking callable somewhere else and awaits its result.

    The scheduler only ever does ``await executor.run(fn)``; the local thread pool
    is the first implementation, a distributed one (Ray) can come later.
    """

    @property
    def max_workers(self) -> int:
        """How many runs may be in flight at once."""
        ...

    async def run(
        self,
        fn: Callable[[], T],
        *,
        gate: PauseGate | None = None,
        on_abandoned: Callable[[], object] | None = None,
    ) -> T:
        """Run ``fn()`` and return its result (or raise its exception)."""
        ...


class LocalExecutor:
    """Run callables in anyio's worker threads, at most ``max_workers`` at once.

    Cancellation never abandons a thread silently: the caller waits (shielded) for
    the run to finish, at most ``cancel_timeout`` seconds; past that the thread is
    left to finish on its own, counted in :attr:`abandoned`.

    :param max_workers: the pool's size, an int >= 1.
    :param cancel_timeout: seconds a cancelled run may take to finish.
    """

    def __init__(
        self, max_workers: int = 1, *, cancel_timeout: float = math.inf
    ) -> None:
        workers = check_int("max_workers", max_workers, minimum=1)
        assert workers is not None
        self._max_workers = workers
        self._limiter = anyio.CapacityLimiter(workers)
        self.cancel_timeout = cancel_timeout
        self.abandoned = 0

    @property
    def max_workers(self) -> int:
        """The pool's size."""
        return self._max_workers

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The limiter every run goes through."""
        return self._limiter

    async def run(
        self,
        fn: Callable[[], T],
        *,
        gate: PauseGate | None = None,
        on_abandoned: Callable[[], object] | None = None,
    ) -> T:
        """Run ``fn()`` in a worker thread; ``pause_point()`` in it uses ``gate``.

        On cancellation it waits (shielded) for a run that has started, at most
        ``cancel_timeout`` seconds, then calls ``on_abandoned()`` and leaves the
        thread to finish alone; a run that has not started never starts.
        """
        call = LoopCaller()
        done = anyio.Event()
        lock = threading.Lock()
        state = ["pending"]  # -> "running" in the worker, or "cancelled" on the loop

        def job() -> T:
            with lock:
                if state[0] == "cancelled":
                    raise anyio.get_cancelled_exc_class()()
                state[0] = "running"
            if gate is not None:
                gate.bind_thread()
            try:
                return fn()
            finally:
                if gate is not None:
                    gate.unbind_thread()
                call(done.set)

        try:
            return await anyio.to_thread.run_sync(
                job, limiter=self._limiter, abandon_on_cancel=True
            )
        except anyio.get_cancelled_exc_class():
            with lock:
                started = state[0] == "running"
                if not started:
                    state[0] = "cancelled"
            if started:
                with anyio.move_on_after(self.cancel_timeout, shield=True):
                    await done.wait()
                if not done.is_set():
                    self.abandoned += 1
                    if on_abandoned is not None:
                        on_abandoned()
            raise
