"""Faults the scheduler must survive: pause storms, user code that raises what
the engine uses itself, runs that end while their task is being cancelled."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest

from aiotrainer import ErrorPolicy, EventKind, ServiceEvent, TrainerFailedError
from helpers import (
    DEADLINE,
    InstrumentedTrainer,
    Journal,
    block_on,
    make_service,
    next_event,
)


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


class Raises(InstrumentedTrainer):
    """Raises ``error`` from its first ``train()``; later runs train."""

    def __init__(self, journal: Journal, error: BaseException) -> None:
        super().__init__("t", journal)
        self.error = error

    def train(self) -> None:
        super().train()
        if self.journal.count("t", "train") == 1:
            raise self.error


class TestWhatUserCodeRaises:
    @pytest.mark.parametrize("policy", ["retry", "disable"])
    async def test_cancelled_error_from_train_is_an_ordinary_failure(
        self, journal: Journal, policy: str
    ) -> None:
        # It was taken for the executor's own cancellation: the trainer stopped
        # for good, failures=0, no event.
        service = make_service(
            Raises(journal, asyncio.CancelledError("mine")),
            on_error=ErrorPolicy(policy, backoff=0.001),  # type: ignore[arg-type]
        )
        events = service.events()  # from the start: the failure comes at once
        with anyio.fail_after(DEADLINE):
            async with service:
                failed = await next_event(events, EventKind.FAILED, "t")
                if policy == "retry":
                    await journal.wait_count("t", "trained", 1)
        assert (failed.error, failed.action) == ("CancelledError: mine", policy)
        status = service.status().trainers["t"]
        assert status.failures == 1
        assert status.last_error == "CancelledError: mine"
        assert status.state == ("stopped" if policy == "retry" else "disabled")

    async def test_cancelled_error_under_stop_stops_the_service(
        self, journal: Journal
    ) -> None:
        service = make_service(Raises(journal, asyncio.CancelledError("mine")))
        with anyio.fail_after(DEADLINE):
            with pytest.raises(TrainerFailedError, match="CancelledError: mine"):
                async with service:
                    await anyio.sleep_forever()
        assert service.status().trainers["t"].failures == 1

    @pytest.mark.parametrize(
        "error",
        [KeyboardInterrupt(), SystemExit(3)],
        ids=["KeyboardInterrupt", "SystemExit"],
    )
    async def test_an_interrupt_is_recorded_then_re_raised_after_shutdown(
        self, journal: Journal, error: BaseException
    ) -> None:
        # It skipped the policy, no event, no last_error, and unwound the loop.
        service = make_service(
            Raises(journal, error), on_error=ErrorPolicy("retry", backoff=0.001)
        )
        seen: list[ServiceEvent] = []
        events = service.events()  # from the start: the failure comes at once
        with anyio.fail_after(DEADLINE):
            with pytest.raises(type(error)) as raised:
                async with service:
                    seen.extend([event async for event in events])
        assert raised.value is error
        kinds = [e.kind for e in seen]
        assert EventKind.FAILED in kinds
        assert kinds[-1] is EventKind.SERVICE_STOPPED
        failed = next(e for e in seen if e.kind is EventKind.FAILED)
        assert failed.action == "stop"  # "retry" would hold the process
        status = service.status()
        assert status.state == "stopped"
        assert status.trainers["t"].failures == 1
        assert status.trainers["t"].last_error == f"{type(error).__name__}: {error}"


class TestCancelledWhileRunning:
    async def test_a_run_that_ends_during_cancellation_is_counted(
        self, journal: Journal
    ) -> None:
        release = threading.Event()
        trainer = InstrumentedTrainer("t", journal, body=block_on(release))
        service = make_service(trainer)
        with anyio.fail_after(DEADLINE):
            with anyio.CancelScope() as scope:
                async with service:
                    await journal.wait_count("t", "blocking", 1)
                    scope.cancel()  # the run is awaited (cancel_timeout) ...
                    release.set()  # ... and ends meanwhile
                    await anyio.sleep_forever()
        assert journal.count("t", "trained") == 1
        status = service.status().trainers["t"]
        assert (status.runs, status.failures) == (1, 0)
