"""The service's own blocking work (disk I/O, hooks) in worker threads (internal)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar, cast

import anyio
import anyio.to_thread

from .errors import ServiceStateError
from .scheduler import is_interrupt

__all__ = ["Housekeeping"]

T = TypeVar("T")

logger = logging.getLogger("aiotrainer.service")


class Housekeeping:
    """Run the service's own blocking work in worker threads.

    Its own small limiter, apart from the trainers' pool: a pause hook must run
    even while every trainer worker is parked. A ``KeyboardInterrupt`` /
    ``SystemExit`` raised in it (by a hook, or a component's ``save_state``) is
    handed to ``on_interrupt`` (which stops the service in order and re-raises
    it on exit) and becomes a :class:`ServiceStateError` here, so that it never
    unwinds the event loop from a task.

    :param on_interrupt: called on the loop with the interrupt.
    """

    def __init__(self, on_interrupt: Callable[[BaseException], None]) -> None:
        self._on_interrupt = on_interrupt
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in a worker thread and return its result.

        :raises ServiceStateError: when ``fn`` raised an interrupt.
        """
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(2)
        interrupts: list[BaseException] = []

        def guarded() -> T | None:
            try:
                return fn()
            except BaseException as exc:
                if not is_interrupt(exc):
                    raise
                interrupts.append(exc)
                return None

        result = await anyio.to_thread.run_sync(guarded, limiter=self._limiter)
        if interrupts:
            interrupt = interrupts[0]
            logger.error(
                "%s raised in a hook; the service stops and re-raises it on exit",
                type(interrupt).__name__,
            )
            self._on_interrupt(interrupt)
            raise ServiceStateError(
                f"interrupted by {type(interrupt).__name__} in a hook; the service "
                "is stopping"
            ) from interrupt
        return cast(T, result)  # fn returned it
