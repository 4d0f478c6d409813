"""Waiting for a trainer's readiness: collector thresholds or a deadline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from .. import time as _clock
from ..data.collector import DataCollector
from ..data.user import DataUser
from ..trainer.conditions import Readiness
from ._loop import LoopCaller

__all__ = ["wait_for_readiness"]


async def wait_for_readiness(
    readiness: Readiness, data_users: Mapping[str, DataUser[Any]]
) -> None:
    """Return when a wake total is reached or the deadline passes.

    Registers one waiter per collector; a collector calls it at most once, and the
    call schedules one wake-up of the loop (none when collected on the loop itself).
    No polling: with no totals and no deadline this waits until cancelled.
    """
    call = LoopCaller()
    event = anyio.Event()

    def wake() -> None:
        call(event.set)

    registered: list[tuple[DataCollector[Any], int]] = []
    try:
        for name, total in readiness.wake_totals.items():
            collector = data_users[name].collector
            registered.append((collector, collector.add_waiter(total, wake)))
        if readiness.deadline is None:
            await event.wait()
        else:
            with anyio.move_on_after(_clock.real_seconds_until(readiness.deadline)):
                await event.wait()
    finally:
        for collector, token in registered:
            collector.remove_waiter(token)
