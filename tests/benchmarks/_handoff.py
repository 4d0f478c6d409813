"""A lighter loop -> thread hand-off than ``anyio.to_thread.run_sync``: a prototype.

Dedicated worker threads fed by a ``queue.SimpleQueue``; the result comes back
through ``loop.call_soon_threadsafe`` on a future. No capacity limiter (the pool
size is the limit), no context copy, no per-call cancel-scope bookkeeping.
:class:`QueueExecutor` wraps it in aiotrainer's ``Executor`` protocol so that the
service's own latency can be measured with it. Benchmark-only: it does not wait
for a run whose caller was cancelled, which ``LocalExecutor`` does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from aiotrainer import PauseGate

__all__ = ["QueueExecutor", "QueueWorker"]

T = TypeVar("T")

_Job = tuple[
    Callable[[], Any], PauseGate | None, asyncio.AbstractEventLoop, asyncio.Future[Any]
]


def _succeed(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.done():
        fut.set_result(result)


def _fail(fut: asyncio.Future[Any], error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)


class QueueWorker:
    """``await worker.run(fn)`` runs ``fn()`` in one of ``threads`` threads."""

    def __init__(self, threads: int = 1) -> None:
        self._queue: SimpleQueue[_Job | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"bench-queue-worker-{i}")
            for i in range(threads)
        ]
        for t in self._threads:
            t.daemon = True
            t.start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            job = get()
            if job is None:
                return
            fn, gate, loop, fut = job
            if gate is not None:
                gate.bind_thread()
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiter
                loop.call_soon_threadsafe(_fail, fut, exc)
            else:
                loop.call_soon_threadsafe(_succeed, fut, result)
            finally:
                if gate is not None:
                    gate.unbind_thread()

    async def run(self, fn: Callable[[], T], *, gate: PauseGate | None = None) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, gate, loop, fut))
        return await fut

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()


class QueueExecutor:
    """aiotrainer's ``Executor`` protocol on :class:`QueueWorker` threads."""

    def __init__(self, max_workers: int = 1) -> None:
        self._max_workers = max_workers
        self._worker: QueueWorker | None = None

    @property
    def max_workers(self) -> int:
        return self._max_workers

    async def run(
        self,
        fn: Callable[[], T],
        *,
        gate: PauseGate | None = None,
        on_abandoned: Callable[[], object] | None = None,
    ) -> T:
        if self._worker is None:
            self._worker = QueueWorker(self._max_workers)
        return await self._worker.run(fn, gate=gate)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
