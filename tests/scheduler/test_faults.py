"""Faults the scheduler must survive: pause storms, user code that raises what
the engine uses itself, runs that end while their task is being cancelled."""

from __future__ import annotations

import threading

import anyio
import pytest

from aiotrainer import EventKind
from helpers import DEADLINE, InstrumentedTrainer, Journal, make_service, next_event


@pytest.fixture
async def journal() -> Journal:
    return Journal()


class TestPauseStorms:
    async def test_a_slot_granted_while_paused_keeps_its_place(
        self, journal: Journal
    ) -> None:
        # "a" holds the only worker; "b" queues for it. The pause waits for "a"'s
        # run to end, which hands the worker to "b" while paused. On resume "b"
        # must run first: handing the worker back sent it behind "a", at every
        # pause, and a storm of pauses starved it (the stress test's flake).
        release = threading.Event()

        def first_run_blocks(trainer: InstrumentedTrainer) -> None:
            if journal.count("a", "train") == 1:
                journal.record("a", "blocking")
                release.wait(DEADLINE)

        a = InstrumentedTrainer("a", journal, body=first_run_blocks)
        b = InstrumentedTrainer("b", journal)
        service = make_service(a, b, max_workers=1)
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("a", "blocking", 1)
                assert service.status().trainers["b"].state == "queued"
                async with anyio.create_task_group() as tg:
                    tg.start_soon(service.pause)
                    release.set()
                assert journal.count("b", "run") == 0
                events = service.events()
                await service.resume()
                started = await next_event(events, EventKind.STARTED)
        assert started.trainer == "b"
