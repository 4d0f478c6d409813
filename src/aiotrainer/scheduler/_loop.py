"""Waking the event loop from any thread (internal)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["LoopCaller"]


class LoopCaller:
    """Call a function on the running event loop, from the loop or any thread.

    From the loop's own thread it calls directly (no self-pipe write); from another
    thread it uses ``call_soon_threadsafe``. A loop that has closed is ignored: the
    service is gone and nobody waits for the call.
    """

    __slots__ = ("_loop", "_thread")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def __call__(self, fn: Callable[[], object]) -> None:
        if threading.get_ident() == self._thread:
            fn()
            return
        try:
            self._loop.call_soon_threadsafe(fn)
        except RuntimeError:  # loop closed
            pass

    @property
    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the loop's thread."""
        return threading.get_ident() == self._thread
