"""TrainerService: life cycle, pause/resume, pause points, error policies, shutdown,
cancellation, status and bad input, with real threads on a real loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from pydantic import BaseModel

import aiotrainer
from aiotrainer import (
    DataBuffer,
    ErrorPolicy,
    EventKind,
    EventStream,
    SequentialBuffer,
    ServiceState,
    ServiceStateError,
    ServiceStatus,
    TrainerFailedError,
    TrainerService,
    TrainerState,
)
from helpers import (
    DEADLINE,
    InstrumentedTrainer,
    Journal,
    NoopTrainer,
    block_on,
    make_service,
    next_event,
    park_until,
    steps,
)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that blocked ``train()`` bodies wait on; set at teardown at the
    latest, so that no worker thread outlives its test."""
    event = threading.Event()
    yield event
    event.set()


async def assert_no_worker_thread_left(before: set[threading.Thread]) -> None:
    """The service's worker threads started since ``before`` have ended (they end
    once the service has closed its pool; joined here, bounded)."""
    workers = [
        t
        for t in set(threading.enumerate()) - before
        if t.name.startswith("aiotrainer-worker-")
    ]
    for thread in workers:
        await anyio.to_thread.run_sync(thread.join, DEADLINE)
    assert [t.name for t in workers if t.is_alive()] == []


class TestLifeCycle:
    async def test_states_through_a_service_life(self, journal: Journal) -> None:
        service = make_service(InstrumentedTrainer("t", journal, user="buf"))
        assert service.state is ServiceState.CREATED
        with anyio.fail_after(DEADLINE):
            async with service:
                assert service.state is ServiceState.RUNNING
                await service.pause()
                assert service.state is ServiceState.PAUSED
                await service.resume()
                assert service.state is ServiceState.RUNNING
        assert service.state is ServiceState.STOPPED

    @pytest.mark.parametrize("verb", ["pause", "resume"])
    async def test_control_before_start_says_to_use_async_with(
        self, journal: Journal, verb: str
    ) -> None:
        service = make_service(InstrumentedTrainer("t", journal))
        with pytest.raises(
            ServiceStateError,
            match=rf"cannot {verb}: service not started; "
            r"use 'async with TrainerService\(\.\.\.\)'",
        ):
            await getattr(service, verb)()
        assert journal.count("t", "paused") == journal.count("t", "resumed") == 0

    async def test_entering_twice_raises(self, journal: Journal) -> None:
        service = make_service(InstrumentedTrainer("t", journal, user="buf"))
        with anyio.fail_after(DEADLINE):
            async with service:
                with pytest.raises(ServiceStateError, match="starts once.*running"):
                    async with service:
                        pass
                assert service.state is ServiceState.RUNNING
            with pytest.raises(ServiceStateError, match="starts once.*stopped"):
                async with service:
                    pass

    async def test_stop_before_start_is_final(self, journal: Journal) -> None:
        service = make_service(InstrumentedTrainer("t", journal))
        with anyio.fail_after(DEADLINE):
            await service.stop()
            await service.stop()
        assert service.state is ServiceState.STOPPED
        with pytest.raises(ServiceStateError, match="starts once"):
            async with service:
                pass
        assert journal.count("t", "run") == 0

    async def test_run_until_stopped_in_a_task_group_and_stop_from_another_task(
        self, journal: Journal
    ) -> None:
        service = make_service(InstrumentedTrainer("t", journal))
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                await tg.start(service.run_until_stopped)
                assert service.state is ServiceState.RUNNING
                await journal.wait_count("t", "trained", 3)
                tg.start_soon(service.stop)
            # the task group ended: run_until_stopped returned by itself
        assert service.state is ServiceState.STOPPED
        assert journal.in_flight() == 0
        runs = journal.count("t", "run")
        assert service.status().trainers["t"].runs == runs

    async def test_stop_is_idempotent_and_concurrent(self, journal: Journal) -> None:
        service = make_service(InstrumentedTrainer("t", journal))
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                await tg.start(service.run_until_stopped)
                await journal.wait_count("t", "trained", 1)
                async with anyio.create_task_group() as stoppers:
                    for _ in range(5):
                        stoppers.start_soon(service.stop)
                assert service.state is ServiceState.STOPPED
            await service.stop()
        assert service.state is ServiceState.STOPPED

    async def test_the_agent_side_is_wired(self, journal: Journal) -> None:
        trainer = InstrumentedTrainer(
            "t", journal, user="buf", min_new_data_count=1, models=["policy"]
        )
        service = make_service(trainer)
        inference = service.inference_models["policy"]
        with anyio.fail_after(DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                collector.collect(1)
                await journal.wait_count("t", "trained", 1)
                # train() bumped the model; sync_models() copied it over
                assert inference() == 1
                collector.collect(2)
                await journal.wait_count("t", "trained", 2)
        assert inference() == 2


class TestPause:
    async def test_no_run_in_flight_after_pause_returns(self, journal: Journal) -> None:
        """Pause over and over while three trainers keep running."""
        parker = InstrumentedTrainer("parker", journal, body=steps(5))
        plain = InstrumentedTrainer("plain", journal, body=lambda t: time.sleep(0.001))
        fed = InstrumentedTrainer("fed", journal, user="buf", min_new_data_count=4)
        service = make_service(parker, plain, fed, max_workers=2)
        cycles = 25
        with anyio.fail_after(4 * DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                for cycle in range(cycles):
                    before = journal.count("plain", "run")
                    # let some runs happen between the pauses
                    collector.collect(cycle)
                    await journal.wait_until(
                        lambda b=before: journal.count("plain", "run") > b
                    )
                    await service.pause()
                    assert journal.unparked_in_flight() == 0, cycle
                    assert service.state is ServiceState.PAUSED
                    runs = journal.count("plain", "run") + journal.count(
                        "parker", "run"
                    )
                    collector.collect(cycle)  # would wake "fed", were it not paused
                    await anyio.sleep(0.005)  # let time pass while paused
                    assert journal.unparked_in_flight() == 0, cycle
                    assert (
                        journal.count("plain", "run") + journal.count("parker", "run")
                        == runs
                    )
                    await service.resume()
        assert journal.busy_at_on_paused == []
        for name in ("parker", "plain", "fed"):
            assert journal.count(name, "paused") == cycles
            assert journal.count(name, "resumed") == cycles
        assert journal.count("fed", "trained") >= 1

    async def test_pause_and_resume_are_idempotent(self, journal: Journal) -> None:
        service = make_service(
            InstrumentedTrainer("a", journal), InstrumentedTrainer("b", journal)
        )
        with anyio.fail_after(DEADLINE):
            async with service:
                await service.resume()  # running already: nothing to do
                assert journal.count("a", "resumed") == 0
                await service.pause()
                await service.pause()
                assert service.state is ServiceState.PAUSED
                await service.resume()
                await service.resume()
                assert service.state is ServiceState.RUNNING
        for name in ("a", "b"):
            assert journal.count(name, "paused") == 1
            assert journal.count(name, "resumed") == 1

    async def test_concurrent_pauses_and_resumes(self, journal: Journal) -> None:
        service = make_service(
            InstrumentedTrainer("a", journal, body=steps(3)),
            InstrumentedTrainer("b", journal),
            max_workers=2,
        )
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("a", "trained", 1)
                async with anyio.create_task_group() as tg:
                    for _ in range(10):
                        tg.start_soon(service.pause)
                assert service.state is ServiceState.PAUSED
                assert journal.unparked_in_flight() == 0
                assert journal.count("a", "paused") == journal.count("b", "paused") == 1
                async with anyio.create_task_group() as tg:
                    for _ in range(10):
                        tg.start_soon(service.resume)
                assert service.state is ServiceState.RUNNING
                assert journal.count("a", "resumed") == journal.count("b", "resumed")
                assert journal.count("a", "resumed") == 1
                # interleaved: whatever the order, the state and the hooks agree
                async with anyio.create_task_group() as tg:
                    for i in range(20):
                        tg.start_soon(service.pause if i % 2 else service.resume)
                paused = journal.count("a", "paused")
                resumed = journal.count("a", "resumed")
                if service.state is ServiceState.PAUSED:
                    assert paused == resumed + 1
                    assert journal.unparked_in_flight() == 0
                else:
                    assert service.state is ServiceState.RUNNING
                    assert paused == resumed
                await service.pause()
                assert journal.unparked_in_flight() == 0
        assert journal.busy_at_on_paused == []

    async def test_pause_does_not_wait_for_a_run_queued_behind_a_parked_one(
        self, journal: Journal, release: threading.Event
    ) -> None:
        """max_workers=1: "long" holds the only worker and parks; "queued" is
        trainable and waits for the worker. pause() must not wait for it."""
        long = InstrumentedTrainer("long", journal, body=park_until(release))
        queued = InstrumentedTrainer("queued", journal)
        service = make_service(long, queued, max_workers=1)
        try:
            with anyio.fail_after(DEADLINE):
                async with service:
                    await journal.wait_count("long", "steps", 1)
                    await service.pause()
                    assert journal.unparked_in_flight() == 0
                    assert journal.count("queued", "run") == 0
                    await service.resume()
                    release.set()
                    await journal.wait_count("queued", "trained", 1)
        finally:
            release.set()

    async def test_a_cancelled_pause_leaves_the_service_running(
        self, journal: Journal, release: threading.Event
    ) -> None:
        slow = InstrumentedTrainer("slow", journal, body=block_on(release))
        other = InstrumentedTrainer("other", journal, user="buf", min_new_data_count=1)
        service = make_service(slow, other, max_workers=2)
        try:
            with anyio.fail_after(DEADLINE):
                async with service:
                    await journal.wait_count("slow", "blocking", 1)
                    with anyio.move_on_after(0.05) as scope:
                        await service.pause()  # waits for "slow", which blocks
                    assert scope.cancelled_caught
                    await service.resume()
                    release.set()
                    # the service still runs trainers
                    service.data_collectors.acquire("buf").collect(1)
                    await journal.wait_count("other", "trained", 1)
                    await journal.wait_count("slow", "trained", 2)
                    assert service.state is ServiceState.RUNNING
                    # and a later pause works
                    await service.pause()
                    assert journal.unparked_in_flight() == 0
        finally:
            release.set()

    async def test_a_failing_on_paused_does_not_wedge_the_service(
        self, journal: Journal
    ) -> None:
        class Grumpy(InstrumentedTrainer):
            def on_paused(self) -> None:
                super().on_paused()
                raise RuntimeError("grumpy cannot pause")

        grumpy = Grumpy("grumpy", journal, user="buf", min_new_data_count=1)
        service = make_service(grumpy)
        with anyio.fail_after(DEADLINE):
            async with service:
                with pytest.raises(RuntimeError, match="grumpy cannot pause"):
                    await service.pause()
                assert service.state is ServiceState.RUNNING
                service.data_collectors.acquire("buf").collect(1)
                await journal.wait_count("grumpy", "trained", 1)

    async def test_a_failing_on_resumed_does_not_keep_the_service_paused(
        self, journal: Journal
    ) -> None:
        class Grumpy(InstrumentedTrainer):
            def on_resumed(self) -> None:
                super().on_resumed()
                raise RuntimeError("grumpy cannot resume")

        grumpy = Grumpy("grumpy", journal, user="buf", min_new_data_count=1)
        service = make_service(grumpy)
        with anyio.fail_after(DEADLINE):
            async with service:
                await service.pause()
                with pytest.raises(RuntimeError, match="grumpy cannot resume"):
                    await service.resume()
                assert service.state is ServiceState.RUNNING
                service.data_collectors.acquire("buf").collect(1)
                await journal.wait_count("grumpy", "trained", 1)
        assert journal.count("grumpy", "resumed") == 1


class TestPausePoint:
    async def test_pause_takes_effect_inside_a_long_train(
        self, journal: Journal, release: threading.Event
    ) -> None:
        long = InstrumentedTrainer(
            "long", journal, user="buf", min_new_data_count=1, body=park_until(release)
        )
        service = make_service(long)
        try:
            with anyio.fail_after(DEADLINE):
                async with service:
                    service.data_collectors.acquire("buf").collect(1)
                    await journal.wait_count("long", "step", 3)
                    started = time.monotonic()
                    await service.pause()
                    # train() would go on for DEADLINE seconds: it was parked
                    assert time.monotonic() - started < DEADLINE / 5
                    assert journal.in_flight() == journal.parked() == 1
                    status = service.status()
                    assert status.running_trainers == 1
                    assert status.trainers["long"].state is TrainerState.PARKED
                    steps_while_paused = journal.count("long", "step")
                    await anyio.sleep(0.02)  # let time pass while parked
                    assert journal.count("long", "step") == steps_while_paused
                    await service.resume()
                    # the same run continues...
                    await journal.wait_count("long", "step", steps_while_paused + 3)
                    assert journal.count("long", "run") == 1
                    release.set()
                    # ...and finishes
                    await journal.wait_count("long", "trained", 1)
                    assert journal.count("long", "run") == 1
                    assert journal.in_flight() == 0
        finally:
            release.set()


class TestErrorPolicies:
    async def test_stop_surfaces_the_error_from_async_with(
        self, journal: Journal
    ) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise ValueError("boom in train")

        bad = InstrumentedTrainer("bad", journal, body=boom)
        good = InstrumentedTrainer("good", journal, user="buf", min_new_data_count=1)
        service = make_service(bad, good)
        with (
            anyio.fail_after(DEADLINE),
            pytest.raises(
                TrainerFailedError,
                match=r"trainer 'bad' failed: ValueError: boom in train",
            ) as info,
        ):
            async with service:
                await anyio.sleep_forever()
        assert isinstance(info.value.__cause__, ValueError)
        assert info.value.trainer == "bad"
        assert service.state is ServiceState.STOPPED
        status = service.status()
        assert status.trainers["bad"].state is TrainerState.FAILED
        assert status.trainers["bad"].last_error == "ValueError: boom in train"
        assert journal.count("bad", "run") == 1

    async def test_stop_surfaces_from_run_until_stopped(self, journal: Journal) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise KeyError("missing")

        service = make_service(InstrumentedTrainer("bad", journal, body=boom))
        with (
            anyio.fail_after(DEADLINE),
            pytest.RaisesGroup(
                pytest.RaisesExc(TrainerFailedError, match="trainer 'bad' failed")
            ),
        ):
            async with anyio.create_task_group() as tg:
                await tg.start(service.run_until_stopped)
        assert service.state is ServiceState.STOPPED

    async def test_retry_backs_off_then_succeeds(self, journal: Journal) -> None:
        attempts: list[float] = []

        def flaky(trainer: InstrumentedTrainer) -> None:
            attempts.append(time.monotonic())
            if len(attempts) <= 2:
                raise RuntimeError(f"flaky attempt {len(attempts)}")

        trainer = InstrumentedTrainer("flaky", journal, body=flaky)
        service = make_service(
            trainer, on_error=ErrorPolicy("retry", max_retries=3, backoff=0.05)
        )
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                finished = await next_event(events, EventKind.FINISHED, "flaky")
                status = service.status().trainers["flaky"]
        assert finished.trained
        assert journal.count("flaky", "error") == 2
        assert attempts[1] - attempts[0] >= 0.05
        assert attempts[2] - attempts[1] >= 0.1  # the backoff doubled
        assert status.failures == 2
        assert status.runs >= 1
        assert status.last_error == "RuntimeError: flaky attempt 2"
        assert status.state is not TrainerState.FAILED

    @pytest.mark.parametrize(
        ("exhausted", "state"),
        [("stop", TrainerState.FAILED), ("disable", TrainerState.DISABLED)],
        ids=["then-stop", "then-disable"],
    )
    async def test_retries_exhausted(
        self, journal: Journal, exhausted: str, state: TrainerState
    ) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise RuntimeError("always")

        policy = ErrorPolicy(
            "retry",
            max_retries=2,
            backoff=0.001,
            exhausted=exhausted,  # type: ignore[arg-type]
        )
        bad = InstrumentedTrainer("bad", journal, body=boom)
        service = make_service(bad, on_error={"bad": policy})
        events = service.events()
        with anyio.fail_after(DEADLINE):
            if exhausted == "stop":
                with pytest.raises(TrainerFailedError, match="RuntimeError: always"):
                    async with service:
                        await anyio.sleep_forever()
            else:
                async with service:
                    event = await next_event(events, EventKind.FAILED, "bad")
                    while event.action == "retry":
                        event = await next_event(events, EventKind.FAILED, "bad")
                    assert event.action == "disable"
                    assert service.state is ServiceState.RUNNING
        assert journal.count("bad", "error") == 3  # the first try and 2 retries
        assert service.status().trainers["bad"].state is state
        assert service.status().trainers["bad"].failures == 3

    async def test_disable_parks_the_trainer_and_the_others_keep_running(
        self, journal: Journal
    ) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise RuntimeError("bad data")

        bad = InstrumentedTrainer("bad", journal, body=boom)
        good = InstrumentedTrainer("good", journal, user="buf", min_new_data_count=1)
        service = make_service(bad, good, on_error={"bad": "disable"})
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                event = await next_event(events, EventKind.FAILED, "bad")
                assert event.action == "disable"
                assert event.error == "RuntimeError: bad data"
                status = service.status().trainers["bad"]
                assert status.state is TrainerState.DISABLED
                assert status.last_error == "RuntimeError: bad data"
                collector = service.data_collectors.acquire("buf")
                for n in range(1, 4):
                    collector.collect(n)
                    await journal.wait_count("good", "trained", n)
                assert service.state is ServiceState.RUNNING
                # pausing and resuming does not wake a disabled trainer
                await service.pause()
                await service.resume()
                collector.collect(4)
                await journal.wait_count("good", "trained", 4)
        assert journal.count("bad", "run") == 1
        assert service.status().trainers["bad"].state is TrainerState.DISABLED


class TestShutdown:
    async def test_exit_waits_for_the_run_in_flight(
        self, journal: Journal, release: threading.Event
    ) -> None:
        slow = InstrumentedTrainer(
            "slow", journal, user="buf", min_new_data_count=1, body=block_on(release)
        )
        service = make_service(slow)

        async def release_once_stopping(stream: EventStream) -> None:
            await next_event(stream, EventKind.SERVICE_STOPPING)
            release.set()

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                async with service:
                    tg.start_soon(release_once_stopping, service.events())
                    service.data_collectors.acquire("buf").collect(1)
                    await journal.wait_count("slow", "blocking", 1)
                # the exit returned only after the run had finished
                assert journal.count("slow", "trained") == 1
                assert journal.in_flight() == 0
        assert service.status().trainers["slow"].runs == 1

    async def test_exit_lets_a_parked_run_finish(self, journal: Journal) -> None:
        long = InstrumentedTrainer(
            "long", journal, user="buf", min_new_data_count=1, body=steps(20, 0.002)
        )
        service = make_service(long)
        with anyio.fail_after(DEADLINE):
            async with service:
                service.data_collectors.acquire("buf").collect(1)
                await journal.wait_count("long", "step", 1)
                await service.pause()
                assert journal.parked() == 1
            assert journal.count("long", "trained") == 1
            assert journal.count("long", "step") == 20
        assert journal.in_flight() == 0
        assert journal.count("long", "resumed") == 0

    async def test_shutdown_timeout_bounds_the_exit(
        self,
        journal: Journal,
        release: threading.Event,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        stuck = InstrumentedTrainer(
            "stuck", journal, body=block_on(release, timeout=4 * DEADLINE)
        )
        service = make_service(stuck, shutdown_timeout=0.5)
        try:
            with anyio.fail_after(DEADLINE), caplog.at_level(logging.ERROR):
                async with service:
                    await journal.wait_count("stuck", "blocking", 1)
                    started = time.monotonic()
                elapsed = time.monotonic() - started
            # bounded by shutdown_timeout, not by the run (it blocks for 4 x
            # DEADLINE); the upper bound is generous for a loaded machine
            assert 0.5 <= elapsed < 0.5 + DEADLINE / 2
            assert service.state is ServiceState.STOPPED
            assert journal.in_flight() == 1  # the thread was left to finish alone
            messages = [r.getMessage() for r in caplog.records]
            assert any("still in flight" in m for m in messages), messages
            assert any("'stuck'" in m for m in messages), messages
        finally:
            release.set()
            await journal.wait_until(lambda: journal.in_flight() == 0)

    async def test_cancelling_the_task_group_mid_train_leaves_nothing_behind(
        self, journal: Journal, release: threading.Event
    ) -> None:
        baseline = asyncio.all_tasks()
        threads_before = set(threading.enumerate())
        slow = InstrumentedTrainer("slow", journal, body=block_on(release, 0.3))
        service = make_service(slow)
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                await tg.start(service.run_until_stopped)
                await journal.wait_count("slow", "blocking", 1)
                tg.cancel_scope.cancel()
            # train() returned (on its own, 0.3 s later) before the group exited
            assert journal.in_flight() == 0
            assert journal.count("slow", "trained") == 1
            assert asyncio.all_tasks() == baseline
            assert service.state is ServiceState.STOPPED
            await assert_no_worker_thread_left(threads_before)

    async def test_cancelling_a_paused_service_releases_parked_runs(
        self, journal: Journal, release: threading.Event
    ) -> None:
        baseline = asyncio.all_tasks()
        threads_before = set(threading.enumerate())
        long = InstrumentedTrainer(
            "long", journal, body=park_until(release, 0.001, 0.3)
        )
        service = make_service(long, shutdown_timeout=2)
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                await tg.start(service.run_until_stopped)
                await journal.wait_count("long", "step", 1)
                await service.pause()
                assert journal.parked() == 1
                started = time.monotonic()
                tg.cancel_scope.cancel()
        assert time.monotonic() - started < 1.5
        assert journal.in_flight() == 0
        assert asyncio.all_tasks() == baseline
        with anyio.fail_after(DEADLINE):
            await assert_no_worker_thread_left(threads_before)


class TestStatus:
    async def test_status_reports_trainers_and_buffers(self, journal: Journal) -> None:
        learner = InstrumentedTrainer(
            "learner",
            journal,
            user="buf",
            min_new_data_count=5,
            body=lambda t: time.sleep(0.01),
        )
        service = make_service(learner, buffers={"buf": SequentialBuffer(10)})
        status = service.status()
        assert isinstance(status, BaseModel)
        assert status.state is ServiceState.CREATED
        assert status.buffers["buf"].model_dump() == {
            "size": 0,
            "max_size": 10,
            "collected": 0,
            "pending": 0,
            "dropped": 0,
            "restored": 0,
            "evicted": 0,
            "lost": 0,
        }
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                assert service.status().started_at is not None
                collector = service.data_collectors.acquire("buf")
                for i in range(5):
                    collector.collect(i)
                await next_event(events, EventKind.FINISHED, "learner")
                status = service.status()
                trainer = status.trainers["learner"]
                assert trainer.runs == 1
                assert trainer.skipped == trainer.failures == 0
                assert trainer.last_error is None
                assert trainer.last_start is not None
                assert trainer.last_end is not None
                assert trainer.last_duration is not None
                assert trainer.last_start <= trainer.last_end
                assert trainer.last_duration >= 0.01
                assert status.buffers["buf"].model_dump() == {
                    "size": 5,
                    "max_size": 10,
                    "collected": 5,
                    "pending": 0,
                    "dropped": 0,
                    "restored": 0,
                    "evicted": 0,
                    "lost": 0,
                }
                await service.pause()
                for i in range(15):  # the queue holds 10: 5 are dropped
                    collector.collect(i)
                status = service.status()
                assert status.state is ServiceState.PAUSED
                assert status.trainers["learner"].state is TrainerState.PAUSED
                assert status.running_trainers == 0
                assert status.buffers["buf"].model_dump() == {
                    "size": 5,
                    "max_size": 10,
                    "collected": 20,
                    "pending": 10,
                    "dropped": 5,
                    "restored": 0,
                    "evicted": 0,
                    "lost": 5,
                }
                assert ServiceStatus.model_validate_json(status.model_dump_json()) == (
                    status
                )
        status = service.status()
        assert status.state is ServiceState.STOPPED
        assert status.trainers["learner"].state is TrainerState.STOPPED
        assert status.max_workers == 1


class TestConstruction:
    @pytest.mark.parametrize(
        ("make_kwargs", "error", "match"),
        [
            (
                lambda: {"trainers": {"learner": NoopTrainer("nope")}},
                KeyError,
                r"trainer 'learner'.*data user.*'nope'.*'buf'",
            ),
            (
                lambda: {"trainers": dict.fromkeys(("a", "b"), NoopTrainer())},
                ValueError,
                "same trainer object is registered as 'a' and 'b'",
            ),
            ({"max_workers": 0}, ValueError, "max_workers must be >= 1, got 0"),
            ({"max_workers": 1.5}, TypeError, "max_workers must be an int, got 1.5"),
            ({"max_workers": True}, TypeError, "max_workers must be an int, got True"),
            (
                {"trainers": {"x": object()}},
                TypeError,
                r"trainers\['x'\] must be a Trainer, got object",
            ),
            (
                {"models": {"m": "not a model"}},
                TypeError,
                r"models\['m'\] must be a TrainingModel, got str",
            ),
            (
                {"buffers": {"b": [1, 2]}},
                TypeError,
                r"buffers\['b'\] must be a DataBuffer, got list",
            ),
            (
                lambda: {"trainers": {"learner": NoopTrainer("buf", 10)}},
                ValueError,
                r"trainer 'learner'.*min_buffer_size=10.*never count more than 4",
            ),
            (
                {"on_error": {"ghost": "retry"}},
                KeyError,
                r"on_error names unknown trainer\(s\) \['ghost'\].*'learner'",
            ),
            ({"on_error": "explode"}, ValueError, "got 'explode'"),
            ({"on_error": {"learner": "explode"}}, ValueError, "got 'explode'"),
            ({"on_error": 3}, TypeError, "error policy must be.*got 3"),
            (
                {"shutdown_timeout": -1},
                ValueError,
                r"shutdown_timeout must be a finite number of seconds >= 0, got -1",
            ),
            ({"recheck_interval": 0}, ValueError, "recheck_interval.*> 0, got 0"),
            ({"executor": object()}, TypeError, "executor must implement Executor"),
        ],
        ids=[
            "unknown-data-user",
            "trainer-twice",
            "max-workers-0",
            "max-workers-float",
            "max-workers-bool",
            "not-a-trainer",
            "not-a-model",
            "not-a-buffer",
            "min-buffer-size-over-capacity",
            "on-error-unknown-trainer",
            "on-error-bad-string",
            "on-error-bad-string-in-mapping",
            "on-error-bad-type",
            "negative-shutdown-timeout",
            "zero-recheck-interval",
            "not-an-executor",
        ],
    )
    def test_bad_input_is_refused_before_anything_starts(
        self, make_kwargs: Any, error: type[Exception], match: str
    ) -> None:
        kwargs = make_kwargs() if callable(make_kwargs) else dict(make_kwargs)
        kwargs.setdefault("trainers", {"learner": NoopTrainer()})
        kwargs.setdefault("buffers", {"buf": SequentialBuffer(4)})
        with pytest.raises(error, match=match):
            TrainerService(**kwargs)

    def test_status_and_events_need_no_start(self) -> None:
        service = TrainerService(trainers={"t": NoopTrainer()})
        assert service.status().state is ServiceState.CREATED
        assert repr(service) == (
            "<TrainerService state=created trainers=['t'] max_workers=1>"
        )
        with pytest.raises(ValueError, match="max_buffer must be an int >= 1, got 0"):
            service.events(max_buffer=0)

    def test_no_trainers_is_allowed_but_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="aiotrainer.service"):
            TrainerService()
        assert "without trainers" in caplog.text


class _CountingBuffer(DataBuffer[tuple[int, int], dict[int, int]]):
    """Counts each producer's items and checks they arrive in order, unbounded."""

    def __init__(self) -> None:
        super().__init__(max_queue_size=10**9)
        self.counts: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.out_of_order = 0
        self._size = 0

    def add(self, data: tuple[int, int]) -> None:
        producer, seq = data
        if seq != self.last.get(producer, -1) + 1:
            self.out_of_order += 1
        self.last[producer] = seq
        self.counts[producer] = self.counts.get(producer, 0) + 1
        self._size += 1

    def get_data(self) -> dict[int, int]:
        return dict(self.counts)

    def __len__(self) -> int:
        return self._size


class _Pamiq(InstrumentedTrainer):
    """Overrides is_trainable, as pamiq-core trainers may."""

    def is_trainable(self) -> bool:
        user = self.get_data_user("lossy")
        user.update()
        return len(user) >= 100


class TestStress:
    PER_PRODUCER = 250_000
    CYCLES = 200

    @pytest.mark.timeout(120)
    async def test_producers_and_pause_cycles(self, journal: Journal) -> None:
        exact_buffer = _CountingBuffer()
        trainers = [
            InstrumentedTrainer(
                "exact",
                journal,
                user="exact",
                min_new_data_count=5000,
                body=steps(3, 0),
            ),
            _Pamiq("lossy", journal, body=steps(2, 0)),
            InstrumentedTrainer(
                "ticker",
                journal,
                condition=aiotrainer.MinInterval(0.002),
                body=steps(1, 0),
            ),
        ]
        service = make_service(
            *trainers,
            buffers={"exact": exact_buffer, "lossy": SequentialBuffer(512)},
            max_workers=2,
        )

        # Producers go in chunks, one per pause/resume cycle, so that collecting
        # overlaps every cycle (free-running, they would hog the GIL and be done
        # in the first few cycles).
        chunk = self.PER_PRODUCER // self.CYCLES
        cycles_done = [0]
        paced = threading.Condition()

        def produce(collector: aiotrainer.DataCollector[Any], producer: int) -> None:
            try:
                collect = collector.collect
                for k in range(self.CYCLES):
                    for seq in range(k * chunk, (k + 1) * chunk):
                        collect((producer, seq))
                    with paced:
                        if not paced.wait_for(
                            lambda k=k: cycles_done[0] > k, timeout=DEADLINE
                        ):
                            return  # the loop gave up; the counts will say so
            finally:  # an exception here fails the test (filterwarnings=error)
                journal.record("producers", "done")

        def cycle_done(n: int) -> None:
            with paced:
                cycles_done[0] = n
                paced.notify_all()

        violations: list[tuple[int, int]] = []
        async with service:
            collectors = [service.data_collectors[n] for n in ("exact", "lossy")]
            threads = [
                threading.Thread(
                    target=produce, args=(collectors[p // 2], p), name=f"producer {p}"
                )
                for p in range(4)
            ]
            for thread in threads:
                thread.start()
            try:
                for cycle in range(self.CYCLES):
                    with anyio.fail_after(DEADLINE):
                        await service.pause()
                    if busy := journal.unparked_in_flight():
                        violations.append((cycle, busy))
                    with anyio.fail_after(DEADLINE):
                        await service.resume()
                    cycle_done(cycle + 1)
                await journal.wait_until(
                    lambda: journal.count("producers", "done") == 4, within=60
                )
            finally:
                cycle_done(self.CYCLES)  # never leave a producer waiting
                for thread in threads:
                    thread.join(timeout=DEADLINE)
            assert not any(t.is_alive() for t in threads)
            with anyio.fail_after(DEADLINE):
                await service.stop()

        assert violations == []
        assert journal.busy_at_on_paused == []
        assert journal.self_overlaps == []
        for trainer in trainers:
            assert journal.count(trainer.label, "paused") == self.CYCLES
            assert journal.count(trainer.label, "error") == 0
        for name, user in service.data_users.items():
            stats = user.statistics()
            assert stats.collected == 2 * self.PER_PRODUCER, name
            assert stats.collected == stats.pending + stats.stored + stats.dropped, name
        exact = service.data_users["exact"]
        exact.update()
        assert exact.statistics().dropped == 0
        assert exact_buffer.counts == {0: self.PER_PRODUCER, 1: self.PER_PRODUCER}
        assert exact_buffer.out_of_order == 0
        assert journal.count("exact", "trained") >= 1
        assert journal.count("lossy", "trained") >= 1
