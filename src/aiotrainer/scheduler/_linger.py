"""Workers that wait in place for their trainer's next batch (internal).

After a run, a worker whose trainer is not trainable yet may wait a little for
the data it lacks instead of going back to the pool: the ``collect()`` that
brings the data then wakes that worker directly, one thread hop, with no trip
through the event loop. Anything that needs the worker elsewhere (a pause, a
stop, a cancellation, another trainer waiting for a worker or a model lock)
nudges it, and it goes back at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from ..data.collector import DataCollector

__all__ = ["Lingering"]

#: Releases the GIL for a moment, cheaply (time.sleep(0) costs ~70 µs on Linux).
_yield_gil: Callable[[], object] = getattr(os, "sched_yield", None) or partial(
    time.sleep, 0
)


class Lingering:
    """The workers waiting in place now, and the means to send them back.

    Thread-safe: workers park from their threads; :meth:`nudge` is called from
    the loop (or any thread).
    """

    __slots__ = ("_back", "_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[threading.Event] = set()
        self._back: list[Callable[[], object]] = []

    def when_back(self, callback: Callable[[], object]) -> bool:
        """True if no worker waits in place now; else ``callback()`` is called
        (from the thread that ends the last wait) once none does."""
        with self._lock:
            if not self._waiting:
                return True
            self._back.append(callback)
            return False

    @property
    def count(self) -> int:
        """Workers waiting in place now."""
        return len(self._waiting)

    def nudge(self) -> None:
        """Send every waiting worker back now (it re-checks why it waits)."""
        with self._lock:
            for wake in self._waiting:
                wake.set()

    def wait(
        self,
        wake_totals: Iterable[tuple[DataCollector[Any], int]],
        timeout: float,
        still: Callable[[], bool],
        announce: Callable[[], object],
    ) -> threading.Event:
        """Block this worker until a collector reaches its total, ``still()``
        says no, or ``timeout`` seconds pass.

        Once nudges can reach this worker, ``announce()`` is called (the worker
        counts as waiting from then on), then ``still()`` is asked, and again
        after each nudge: when it says no (something wants the worker back),
        this returns. A nudge before the first question is seen by it; one after
        wakes the wait. A nudge meant for another worker only costs a question.

        :return: a token for :meth:`leave`. The worker counts as waiting until
            it is given there: when the worker runs again, or once the loop has
            taken it back.
        """
        wake = threading.Event()
        arrived: list[bool] = []

        def on_data() -> None:  # in the producer's thread: never blocks
            arrived.append(True)  # before the set: seen by whoever it wakes
            wake.set()
            # Offer the GIL now: a producer that never blocks would keep it for
            # a whole switch interval (5 ms) while the woken worker waits. (The
            # loop's wake-up does the same in its self-pipe write.)
            _yield_gil()

        registered: list[tuple[DataCollector[Any], int]] = []
        with self._lock:
            self._waiting.add(wake)
        try:
            announce()
            if not still():
                return wake
            for collector, total in wake_totals:
                registered.append((collector, collector.add_waiter(total, on_data)))
            deadline = time.monotonic() + timeout
            while not arrived:
                left = min(deadline - time.monotonic(), threading.TIMEOUT_MAX)
                if left <= 0 or not wake.wait(left):
                    break  # the wait ran out
                wake.clear()
                if not still():
                    break
        except BaseException:
            self.leave(wake)  # nobody gets the token: do not count it for ever
            raise
        finally:
            for collector, token in registered:
                collector.remove_waiter(token)
        return wake

    def leave(self, token: threading.Event) -> None:
        """Count the worker that :meth:`wait` gave ``token`` as waiting no more."""
        with self._lock:
            self._waiting.discard(token)
            if self._waiting:
                return
            back, self._back = self._back, []
        for callback in back:
            callback()
