"""Faults around a worker waiting in place (``linger``): errors in and after the
wait, time-bounded waits that must not count a waiting worker as a run, retries,
deadlines, and waiters left behind. Each defect test failed before its fix."""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Any

import anyio
import pytest

from aiotrainer import EventKind, MinNewData
from aiotrainer.trainer.conditions import ConditionContext, Readiness
from helpers import DEADLINE, InstrumentedTrainer, Journal, make_service, next_event

LONG = DEADLINE * 12


class TestErrorInsideTheWait:
    async def test_a_linger_past_threading_timeout_max_keeps_training(
        self, journal: Journal
    ) -> None:
        """linger passes check_seconds (finite, >= 0), but Event.wait() refuses
        a timeout over threading.TIMEOUT_MAX (~292 years) with OverflowError,
        raised in the worker after announce() has accounted the run."""
        trainer = InstrumentedTrainer("t", journal, user="buf", min_new_data_count=1)
        service = make_service(trainer, linger=1e10)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                collect(2)
                await journal.wait_count("t", "trained", 2)
        assert service.status().trainers["t"].runs == 2


class _RaisesOnSecondItem(MinNewData):
    """MinNewData whose pre-check raises once a second item was collected:
    a user condition with a bug, reached in the worker right after the wait."""

    def precheck(self, ctx: ConditionContext) -> Readiness:
        if ctx.data_users[self.data_user].collector.collected >= 2:
            raise RuntimeError("condition bug")
        return super().precheck(ctx)


class TestErrorAfterTheWait:
    @pytest.mark.parametrize("linger", [0.0, LONG])
    async def test_an_error_after_the_wait_is_reported_as_itself(
        self, journal: Journal, linger: float
    ) -> None:
        """The condition's error ends the service as itself, with or without a
        wait before it (the worker has accounted the run that came before:
        the failure must still be counted, not lost to an AssertionError)."""
        trainer = InstrumentedTrainer(
            "t", journal, user="buf", condition=_RaisesOnSecondItem("buf", 1)
        )
        service = make_service(trainer, linger=linger)
        errors: list[BaseException] = []
        with anyio.fail_after(DEADLINE * 2):
            try:
                async with service, service.events() as stream:
                    collect = service.data_collectors.acquire("buf").collect
                    collect(1)
                    await next_event(stream, EventKind.FINISHED, "t")
                    collect(2)
                    await anyio.sleep_forever()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
        flat: list[BaseException] = []
        while errors:
            e = errors.pop()
            if isinstance(e, BaseExceptionGroup):
                errors.extend(e.exceptions)
            else:
                flat.append(e)
        # reported as itself (raw, or as the trainer's failure), not lost
        assert flat and all(
            "condition bug" in f"{e!r} {e.__cause__!r}" for e in flat
        ), flat


class _RaisesOnceInAWorker(MinNewData):
    """MinNewData whose pre-check raises the first time a worker asks it: the
    chain's question right after a run that trained."""

    def __init__(self, data_user: str, count: int) -> None:
        super().__init__(data_user, count)
        self._raised = threading.Event()

    def precheck(self, ctx: ConditionContext) -> Readiness:
        worker = threading.current_thread().name.startswith("aiotrainer-worker")
        if worker and not self._raised.is_set():
            self._raised.set()
            raise RuntimeError("condition bug")
        return super().precheck(ctx)


class TestErrorRightAfterARun:
    @pytest.mark.parametrize("linger", [0.0, LONG])
    async def test_the_run_counts_as_trained_and_a_retry_keeps_its_data(
        self, journal: Journal, linger: float
    ) -> None:
        """A pre-check raising in the worker after a run that trained: that run
        used to be reported as failed, and a retry gave its data back."""
        from aiotrainer import ErrorPolicy

        trainer = InstrumentedTrainer(
            "t", journal, user="buf", condition=_RaisesOnceInAWorker("buf", 1)
        )
        service = make_service(
            trainer, linger=linger, on_error=ErrorPolicy("retry", backoff=0.001)
        )
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                collect(1)
                failed = await next_event(stream, EventKind.FAILED, "t")
                assert "condition bug" in (failed.error or "")
                assert [r.outcome for r in trainer.metrics.runs()] == ["trained"]
                collect(2)
                finished = await next_event(stream, EventKind.FINISHED, "t")
                assert finished.trained
        assert journal.count("t", "train") == 2  # item 1 once, then item 2
        status = service.status().trainers["t"]
        assert (status.runs, status.failures) == (2, 1)
        assert [r.outcome for r in trainer.metrics.runs()] == ["trained", "trained"]


class TestShutdownWithAWaitingWorker:
    async def test_a_waiting_worker_is_not_a_run_in_flight_at_shutdown(
        self, journal: Journal, caplog: pytest.LogCaptureFixture, tmp_path: Any
    ) -> None:
        """shutdown_timeout=0: "don't wait for runs in flight". No run is in
        flight here (the worker only waits for data), yet shutdown reports one
        abandoned; most of the time the worker is also counted abandoned and
        the final checkpoint is skipped ("outlived shutdown_timeout ... a
        capture would catch half-updated"). With linger=0 all is clean."""
        trainer = InstrumentedTrainer("t", journal, user="buf", min_new_data_count=1)
        service = make_service(
            trainer, linger=LONG, shutdown_timeout=0, state_dir=tmp_path
        )
        with anyio.fail_after(DEADLINE):
            async with service, service.events() as stream:
                service.data_collectors.acquire("buf").collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                assert service.status().running_trainers == 0  # says: idle
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []


class TestBoundedWaitsWithAWaitingWorker:
    @pytest.mark.parametrize("linger", [0.0, LONG])
    async def test_pause_with_a_zero_timeout_when_nothing_runs(
        self, journal: Journal, linger: float
    ) -> None:
        """status() says no run is in flight, yet pause(timeout=0) fails with a
        PauseTimeoutError that names no trainer: the gate still counts the
        waiting worker until the loop takes it back. Same for save_state()."""
        trainer = InstrumentedTrainer("t", journal, user="buf", min_new_data_count=1)
        service = make_service(trainer, linger=linger)
        with anyio.fail_after(DEADLINE):
            async with service, service.events() as stream:
                service.data_collectors.acquire("buf").collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                assert service.status().running_trainers == 0
                await service.pause(timeout=0)
                assert service.status().state.value == "paused"


# -- checked and found correct (these pass) -------------------------------------


class TestCheckedCorrect:
    async def test_retry_after_a_wait_reports_the_error_and_retries_the_data(
        self, journal: Journal
    ) -> None:
        from aiotrainer import ErrorPolicy

        def second_raises(trainer: InstrumentedTrainer) -> None:
            if trainer.journal.count("t", "train") == 2:
                raise ValueError("second")

        trainer = InstrumentedTrainer(
            "t", journal, user="buf", min_new_data_count=1, body=second_raises
        )
        service = make_service(
            trainer, linger=LONG, on_error=ErrorPolicy("retry", backoff=0.001)
        )
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                collect(2)  # wakes the waiting worker: run 2 raises
                failed = await next_event(stream, EventKind.FAILED, "t")
                assert (failed.error, failed.action) == ("ValueError: second", "retry")
                await journal.wait_count("t", "trained", 2)  # the retry, same data
        status = service.status().trainers["t"]
        assert (status.runs, status.failures) == (2, 1)
        assert [r.outcome for r in trainer.metrics.runs()] == [
            "trained",
            "failed",
            "trained",
        ]

    async def test_min_interval_runs_again_from_the_worker_at_its_deadline(
        self, journal: Journal
    ) -> None:
        from aiotrainer import MinInterval

        enough = threading.Event()

        def count(trainer: InstrumentedTrainer) -> None:
            if trainer.journal.count("t", "train") >= 4:
                enough.set()

        trainer = InstrumentedTrainer(
            "t", journal, condition=MinInterval(0.02), body=count
        )
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                await journal.wait_count("t", "trained", 1)
                assert enough.wait(DEADLINE)  # the loop is blocked meanwhile
        times = journal.train_times["t"]
        assert all(b - a >= 0.02 for a, b in itertools.pairwise(times))
        assert service.status().trainers["t"].runs == journal.count("t", "trained")

    async def test_a_nudged_wait_leaves_no_waiter_on_the_collector(
        self, journal: Journal
    ) -> None:
        trainer = InstrumentedTrainer("t", journal, user="buf", min_new_data_count=1)
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE):
            async with service, service.events() as stream:
                collector = service.data_collectors.acquire("buf")
                collector.collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                await service.pause()  # nudges the waiting worker back
                assert collector._waiters == {}
                assert service.status().running_trainers == 0
