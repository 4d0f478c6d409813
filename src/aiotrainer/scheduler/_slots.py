"""A counting semaphore for the event loop with a no-await fast path (internal)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["Slots"]


class Slots:
    """At most ``total`` holders at once, first come first served.

    Unlike ``anyio.CapacityLimiter``, taking a free slot does not go through the
    event loop: a wake-up reaches a worker thread one loop iteration sooner.
    Loop thread only.

    :param on_wait: called (on the loop) each time someone starts waiting.
    """

    def __init__(self, total: int, on_wait: Callable[[], object] | None = None) -> None:
        self.total = total
        self.held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_wait = on_wait

    def try_acquire(self) -> bool:
        """Take a free slot now if nobody waits; return whether it did."""
        if self.held < self.total and not self._waiters:
            self.held += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one if all are held (cancellation-safe)."""
        if self.held < self.total and not self._waiters:
            self.held += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._on_wait is not None:
            self._on_wait()
        try:
            await waiter  # release() hands its slot over: held stays counted
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as we were cancelled: pass it on
            elif waiter in self._waiters:  # release() may have dropped it already
                self._waiters.remove(waiter)
            raise

    @property
    def contended(self) -> bool:
        """Whether someone waits for a slot; a hint, readable from any thread."""
        return bool(self._waiters)

    def release(self) -> None:
        """Give a slot back, to the first waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.held -= 1
