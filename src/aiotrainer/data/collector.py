"""The thread-safe, never-blocking entry point for experience."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .. import time as _clock
from .._validate import check_int

__all__ = ["DataCollector"]

logger = logging.getLogger("aiotrainer.data")

T = TypeVar("T")

_NEVER = sys.maxsize


def _peek(counter: itertools.count[int]) -> int:
    """Read an ``itertools.count`` without advancing it (its repr is ``count(N)``)."""
    return int(repr(counter)[6:-1])


class DataCollector(Generic[T]):
    """Collect items from any thread, or from the event loop, without blocking.

    ``collect()`` appends ``(item, aiotrainer.time.time())`` to a queue that the owning
    :class:`~aiotrainer.DataUser` drains on ``update()``. It takes no lock: the queue
    append and the counter are single atomic operations, so producers never wait on
    each other or on the consumer. When the queue is bounded and full, the oldest
    item is dropped and counted in :attr:`dropped`.

    Waiters (the scheduler) register a threshold with :meth:`add_waiter`; the
    ``collect()`` that brings the total to it calls the waiter's callback once. A
    trainer that waits for 64 new items is therefore woken once, not 64 times.

    :param max_queue_size: the queue bound, or ``None`` for unbounded.
    """

    __slots__ = (
        "__weakref__",
        "_lock",
        "_max_queue_size",
        "_next_token",
        "_queue",
        "_seq",
        "_taken",
        "_waiters",
        "_wake_at",
        "collect",
    )

    def __init__(self, max_queue_size: int | None = None) -> None:
        self._max_queue_size = check_int(
            "max_queue_size", max_queue_size, minimum=0, optional=True
        )
        self._queue: deque[tuple[T, float]] = deque(maxlen=self._max_queue_size)
        self._seq = itertools.count(1)
        self._taken = 0
        self._wake_at = _NEVER
        self._lock = threading.Lock()
        self._waiters: dict[int, tuple[int, Callable[[], Any]]] = {}
        self._next_token = 0
        self.collect = self._make_collect()

    collect: Callable[[T], None]
    """Add an item, stamped with :func:`aiotrainer.time.time`. Thread-safe, O(1), never blocks."""

    def _make_collect(self) -> Callable[[T], None]:
        # A closure over pre-bound methods: no attribute lookups on the hot path,
        # no lock. deque.append and count.__next__ are each atomic.
        append = self._queue.append
        clock = _clock  # its time() is read at each call: patching it takes effect
        tick = self._seq.__next__

        def collect(item: T) -> None:
            """Add ``item``, stamped with ``aiotrainer.time.time()``. Thread-safe, O(1), never
            blocks.

            :param item: one unit of experience; stored as is, not copied.
            """
            append((item, clock.time()))
            if tick() >= self._wake_at:
                self._wake()

        return collect

    # -- counters ---------------------------------------------------------------

    @property
    def max_queue_size(self) -> int | None:
        """The queue bound, or ``None``."""
        return self._max_queue_size

    @property
    def collected(self) -> int:
        """Items collected since construction."""
        return _peek(self._seq) - 1

    @property
    def pending(self) -> int:
        """Items collected and waiting for ``update()``."""
        return len(self._queue)

    @property
    def dropped(self) -> int:
        """Items dropped from a full queue (exact once producers are quiet)."""
        return max(0, self.collected - self._taken - len(self._queue))

    # -- the consumer side (the DataUser) ----------------------------------------

    def drain(self) -> list[tuple[T, float]]:
        """Take every queued ``(item, timestamp)``, oldest first.

        Meant for the owning data user; safe while producers keep collecting.
        """
        queue = self._queue
        # len() only grows behind our back (a full queue drops from the left, but
        # stays full), so popping len() items never runs dry. starmap calls
        # popleft from C: a quarter cheaper per item than a comprehension.
        out = list(itertools.starmap(queue.popleft, itertools.repeat((), len(queue))))
        self._taken += len(out)
        return out

    # -- waiters (the scheduler) -----------------------------------------------

    def add_waiter(self, total: int, callback: Callable[[], Any]) -> int:
        """Call ``callback()`` once when :attr:`collected` reaches ``total``.

        The callback runs in the thread that collects the item (or in this call, if
        the total is already reached) and must not block: the scheduler passes one
        that wakes its event loop, or a worker waiting in place for this data.

        :return: a token for :meth:`remove_waiter`.
        """
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._waiters[token] = (total, callback)
            self._wake_at = min(self._wake_at, total)
        if self.collected >= total:
            self._wake()
        return token

    def remove_waiter(self, token: int) -> None:
        """Forget a waiter that has not fired; unknown tokens are ignored."""
        with self._lock:
            if self._waiters.pop(token, None) is not None:
                self._reset_wake_at()

    def _reset_wake_at(self) -> None:
        self._wake_at = min((t for t, _ in self._waiters.values()), default=_NEVER)

    def _wake(self) -> None:
        collected = self.collected
        with self._lock:
            due = [k for k, (t, _) in self._waiters.items() if t <= collected]
            callbacks = [self._waiters.pop(k)[1] for k in due]
            self._reset_wake_at()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a waiter's bug must not break collect()
                logger.exception("a DataCollector waiter callback raised")

    def __repr__(self) -> str:
        return (
            f"<DataCollector collected={self.collected} pending={self.pending} "
            f"dropped={self.dropped} max_queue_size={self._max_queue_size}>"
        )
