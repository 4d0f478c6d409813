"""Waiting for a trainer's readiness: collector thresholds or a deadline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from .. import time as _clock
from ..data.collector import DataCollector
from ..data.user import DataUser
from ..trainer.conditions import Readiness

__all__ = ["wait_for_readiness"]


def _complete(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_for_readiness(
    readiness: Readiness, data_users: Mapping[str, DataUser[Any]]
) -> None:
    """Return when a wake total is reached or the deadline passes.

    Registers one waiter per collector; a collector calls it at most once, and the
    call schedules one wake-up of the loop (none when collected on the loop itself)
    that completes the future this task awaits: nothing else runs in between. No
    polling: with no totals and no deadline this waits until cancelled.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    thread_safe = loop.call_soon_threadsafe
    loop_thread = threading.get_ident()

    def wake() -> None:
        # On the loop's thread (collect() on the loop, or add_waiter() with the
        # total already reached) complete it directly: no self-pipe write.
        if threading.get_ident() == loop_thread:
            _complete(future)
            return
        try:
            thread_safe(_complete, future)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    registered: list[tuple[DataCollector[Any], int]] = []
    timer: asyncio.TimerHandle | None = None
    try:
        for name, total in readiness.wake_totals.items():
            collector = data_users[name].collector
            registered.append((collector, collector.add_waiter(total, wake)))
        if readiness.deadline is not None:
            delay = _clock.real_seconds_until(readiness.deadline)
            timer = loop.call_later(delay, _complete, future)
        await future
    finally:
        if timer is not None:
            timer.cancel()
        for collector, token in registered:
            collector.remove_waiter(token)
