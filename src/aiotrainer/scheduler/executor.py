"""Where a run happens: the executor seam, and the local worker-thread pool."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import anyio

from .._validate import check_int, check_seconds
from ._slots import Slots
from .pause_gate import PauseGate

__all__ = ["Executor", "LocalExecutor"]

T = TypeVar("T")

_PENDING, _RUNNING, _CANCELLED, _DONE = range(4)
logger = logging.getLogger("aiotrainer.scheduler")
_worker_ids = itertools.count(1)


@runtime_checkable
class Executor(Protocol):
    """Runs a blocking callable somewhere else and awaits its result.

    The scheduler only ever does ``await executor.run(fn)``; the local thread pool
    is the first implementation, a distributed one (Ray) can come later. The
    service closes the executor it made itself when it stops; one passed to it
    stays the caller's to close.
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


class _Job(Generic[T]):
    """One call of ``fn()``: submitted on the loop, run in a worker thread."""

    __slots__ = (
        "done",
        "error",
        "fn",
        "future",
        "gate",
        "lock",
        "loop",
        "release",
        "state",
    )

    def __init__(
        self,
        release: Callable[[], None],
        fn: Callable[[], T],
        gate: PauseGate | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.release = release  # frees the executor's slot
        self.fn = fn
        self.gate = gate
        self.loop = loop
        self.future: asyncio.Future[T] = loop.create_future()
        self.done: asyncio.Event | None = None  # made only if someone must wait
        self.lock = threading.Lock()
        self.state = _PENDING
        self.error: BaseException | None = None

    def run(self) -> None:
        """In a worker thread: run ``fn`` unless the caller gave up first."""
        with self.lock:
            if self.state == _CANCELLED:
                return
            self.state = _RUNNING
        gate = self.gate
        if gate is not None:
            gate.bind_thread()
        result: Any = None
        error: BaseException | None = None
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        finally:
            if gate is not None:
                gate.unbind_thread()
        try:
            self.loop.call_soon_threadsafe(self.finish, result, error)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    def finish(self, result: Any, error: BaseException | None) -> None:
        """On the loop: hand the outcome to the awaiting task, free the slot."""
        self.state = _DONE
        self.error = error
        if self.done is not None:
            self.done.set()
        self.release()
        if not self.future.done():
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)


class LocalExecutor:
    """Run callables in a pool of worker threads, at most ``max_workers`` at once.

    A lean hand-off: a run is one ``SimpleQueue.put`` to an idle worker thread and
    one ``call_soon_threadsafe`` back, with no extra trip through the event loop
    (``anyio.to_thread.run_sync`` costs about 60 µs more per run here; see the
    latency benchmark). The threads are started on demand, run nothing but the
    callables given, and end on :meth:`aclose`.

    Cancellation never abandons a thread silently: a run that has started is
    awaited (shielded) for at most ``cancel_timeout`` seconds; past that its
    thread is left to finish alone, counted in :attr:`abandoned`, and
    ``on_abandoned()`` is called. A run that has not started never starts.

    :param max_workers: the pool's size, an int >= 1.
    :param cancel_timeout: seconds a cancelled run may take to finish (>= 0).
    :raises TypeError: for a non-int ``max_workers``.
    :raises ValueError: for ``max_workers < 1`` or a negative ``cancel_timeout``.
    """

    def __init__(
        self, max_workers: int = 1, *, cancel_timeout: float = math.inf
    ) -> None:
        workers = check_int("max_workers", max_workers, minimum=1)
        assert workers is not None
        if cancel_timeout != math.inf:
            cancel_timeout = check_seconds("cancel_timeout", cancel_timeout)
        self._max_workers = workers
        self.cancel_timeout = cancel_timeout
        self.abandoned = 0
        """Runs left to finish alone after a cancellation timed out."""
        self._queue: SimpleQueue[_Job[Any] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._slots = Slots(workers)

    @property
    def max_workers(self) -> int:
        """The pool's size."""
        return self._max_workers

    @property
    def in_flight(self) -> int:
        """Runs holding a worker now (abandoned ones included)."""
        return self._slots.held

    @property
    def threads(self) -> int:
        """Worker threads alive now."""
        return sum(t.is_alive() for t in self._threads)

    async def run(
        self,
        fn: Callable[[], T],
        *,
        gate: PauseGate | None = None,
        on_abandoned: Callable[[], object] | None = None,
        on_cancel: Callable[[], object] | None = None,
    ) -> T:
        """Run ``fn()`` in a worker thread; ``pause_point()`` in it uses ``gate``.

        :param on_cancel: called on the loop when the caller is cancelled while
            ``fn`` runs, before waiting for it: a way to ask ``fn`` to end sooner.
        :return: what ``fn()`` returned; its exception is raised here.
        """
        if not self._slots.try_acquire():
            await self._slots.acquire()
        try:
            job = _Job(self._slots.release, fn, gate, asyncio.get_running_loop())
            self._ensure_thread()  # may fail: "can't start new thread"
        except BaseException:
            self._slots.release()
            raise
        self._queue.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            with job.lock:
                started = job.state != _PENDING
                if not started:
                    job.state = _CANCELLED
            if not started:
                self._slots.release()
                raise
            if on_cancel is not None:
                on_cancel()
            if job.state != _DONE:
                job.done = asyncio.Event()
                with anyio.move_on_after(self.cancel_timeout, shield=True):
                    await job.done.wait()
            if job.state != _DONE:
                self.abandoned += 1
                if on_abandoned is not None:
                    on_abandoned()
            elif job.error is not None:
                # nobody awaits the result any more: do not lose the error
                logger.error(
                    "a run raised while its caller was being cancelled",
                    exc_info=job.error,
                )
            raise

    async def aclose(self) -> None:
        """End the idle worker threads (busy ones end after their run). Idempotent."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        self._queue = SimpleQueue()

    def _ensure_thread(self) -> None:
        # A worker per slot held; workers only end on aclose(), which empties
        # the list, so every thread in it is alive.
        if len(self._threads) < self._slots.held:
            thread = threading.Thread(
                target=_work,
                args=(self._queue,),
                name=f"aiotrainer-worker-{next(_worker_ids)}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)


def _work(queue: SimpleQueue[_Job[Any] | None]) -> None:
    get = queue.get
    while True:
        job = get()
        if job is None:
            return
        job.run()
