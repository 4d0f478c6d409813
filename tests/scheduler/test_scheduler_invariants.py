"""The scheduler's invariants, observed through a real TrainerService: exclusion,
parallelism, event-driven wake-ups (no polling), and the built-in conditions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from itertools import pairwise

import anyio
import anyio.lowlevel
import pytest

from aiotrainer import EventKind, MinInterval, TrainerState
from helpers import (
    DEADLINE,
    InstrumentedTrainer,
    Journal,
    make_service,
    next_event,
)


def nap(trainer: InstrumentedTrainer) -> None:
    """A ``train()`` body that takes a little while, so that overlaps would show."""
    time.sleep(0.001)


def meet(barrier: threading.Barrier) -> Callable[[InstrumentedTrainer], None]:
    """A ``train()`` body: wait at ``barrier`` (on the first run only)."""

    def body(trainer: InstrumentedTrainer) -> None:
        if trainer.journal.count(trainer.label, "train") == 1:
            barrier.wait()
            trainer.journal.record(trainer.label, "met")

    return body


class TestExclusion:
    async def test_a_trainer_never_runs_concurrently_with_itself(
        self, journal: Journal
    ) -> None:
        solo = InstrumentedTrainer("solo", journal, body=nap)
        service = make_service(solo, max_workers=4)
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("solo", "trained", 30)
        assert journal.self_overlaps == []
        assert journal.most_in_run == 1

    async def test_trainers_sharing_a_model_never_overlap(
        self, journal: Journal
    ) -> None:
        a = InstrumentedTrainer("a", journal, models=["shared"], body=nap)
        b = InstrumentedTrainer("b", journal, models=["shared", "own"], body=nap)
        c = InstrumentedTrainer("c", journal, models=["other"], body=nap)
        service = make_service(a, b, c, max_workers=3)
        with anyio.fail_after(DEADLINE):
            async with service:
                for name in ("a", "b", "c"):
                    await journal.wait_count(name, "trained", 15)
        assert journal.model_overlaps == []
        assert journal.self_overlaps == []
        # "c" did run beside "a" or "b": the pool was not simply serial
        assert journal.most_in_run == 2

    async def test_trainers_with_different_models_run_in_parallel(
        self, journal: Journal
    ) -> None:
        barrier = threading.Barrier(2, timeout=DEADLINE)
        a = InstrumentedTrainer("a", journal, models=["m1"], body=meet(barrier))
        b = InstrumentedTrainer("b", journal, models=["m2"], body=meet(barrier))
        service = make_service(a, b, max_workers=2)
        with anyio.fail_after(DEADLINE):
            async with service:
                # both were inside train() at once, or the barrier would break
                await journal.wait_count("a", "met", 1)
                await journal.wait_count("b", "met", 1)
        assert journal.count("a", "error") == journal.count("b", "error") == 0
        assert journal.most_in_run == 2

    @pytest.mark.parametrize(
        ("models", "max_workers"),
        [((["m1"], ["m2"]), 1), ((["m"], ["m"]), 2)],
        ids=["one-worker", "shared-model"],
    )
    async def test_serialised_trainers_never_meet(
        self, journal: Journal, models: tuple[list[str], list[str]], max_workers: int
    ) -> None:
        """The barrier breaks (after its short timeout) because the two trainers
        never are inside train() at once; each is then disabled."""
        barrier = threading.Barrier(2, timeout=0.2)
        a = InstrumentedTrainer("a", journal, models=models[0], body=meet(barrier))
        b = InstrumentedTrainer("b", journal, models=models[1], body=meet(barrier))
        service = make_service(a, b, max_workers=max_workers, on_error="disable")
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                failed = {(await next_event(events, EventKind.FAILED)).trainer}
                failed.add((await next_event(events, EventKind.FAILED)).trainer)
                status = service.status()
        assert failed == {"a", "b"}
        for name in ("a", "b"):
            assert status.trainers[name].state is TrainerState.DISABLED
            assert "BrokenBarrierError" in (status.trainers[name].last_error or "")
            assert journal.count(name, "met") == 0
        assert journal.most_in_run == 1


class TestWakeUps:
    async def test_collecting_on_the_loop_dispatches_once_per_64_items(
        self, journal: Journal
    ) -> None:
        learner = InstrumentedTrainer(
            "learner", journal, user="buf", min_new_data_count=64
        )
        service = make_service(learner)
        events = service.events()
        batches = 5
        with anyio.fail_after(DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                for batch in range(batches):
                    for i in range(63):
                        collector.collect(i)
                        # let the loop act on any wake-up, were there one
                        await anyio.lowlevel.checkpoint()
                    assert journal.count("learner", "run") == batch
                    collector.collect(63)
                    finished = await next_event(events, EventKind.FINISHED, "learner")
                    assert finished.trained
                status = service.status().trainers["learner"]
        assert journal.count("learner", "run") == batches
        assert journal.count("learner", "skipped") == 0
        assert (status.runs, status.skipped) == (batches, 0)

    async def test_collecting_from_a_foreign_thread_dispatches_once_per_64_items(
        self, journal: Journal
    ) -> None:
        trained = threading.Semaphore(0)

        def body(trainer: InstrumentedTrainer) -> None:
            trained.release()

        learner = InstrumentedTrainer(
            "learner", journal, user="buf", min_new_data_count=64, body=body
        )
        service = make_service(learner)
        batches = 10

        def produce() -> None:
            collector = service.data_collectors["buf"]
            try:
                for batch in range(batches):
                    for i in range(64):
                        collector.collect((batch, i))
                    if not trained.acquire(timeout=DEADLINE):
                        return
            finally:
                journal.record("producer", "done")

        producer = threading.Thread(target=produce, name="producer")
        with anyio.fail_after(DEADLINE):
            async with service:
                producer.start()
                await journal.wait_count("producer", "done", 1)
                await journal.wait_count("learner", "trained", batches)
                events = service.events()
            # the stream ends with the service; no run started after the last
            started = [e async for e in events if e.kind is EventKind.STARTED]
            assert started == []
        producer.join(DEADLINE)
        assert journal.count("learner", "run") == batches
        assert journal.count("learner", "skipped") == 0
        assert service.status().trainers["learner"].skipped == 0

    async def test_a_burst_from_a_thread_is_not_dispatched_per_item(
        self, journal: Journal
    ) -> None:
        learner = InstrumentedTrainer(
            "learner", journal, user="buf", min_new_data_count=64
        )
        service = make_service(learner)

        def burst() -> None:
            collector = service.data_collectors["buf"]
            for i in range(640):
                collector.collect(i)
            journal.record("producer", "done")

        with anyio.fail_after(DEADLINE):
            async with service:
                producer = threading.Thread(target=burst, name="producer")
                producer.start()
                await journal.wait_count("producer", "done", 1)
                await journal.wait_count("learner", "trained", 1)
        producer.join(DEADLINE)
        # each run needs 64 new items: 10 at most, and hardly a wasted dispatch
        assert journal.count("learner", "trained") <= 10
        assert journal.count("learner", "run") <= 12

    @pytest.mark.parametrize(
        ("user", "min_buffer_size"),
        [(None, 0), ("buf", 5)],
        ids=["no-condition", "min-buffer-size"],
    )
    async def test_a_trainer_still_trainable_runs_again_at_once(
        self, journal: Journal, user: str | None, min_buffer_size: int
    ) -> None:
        eager = InstrumentedTrainer(
            "eager", journal, user=user, min_buffer_size=min_buffer_size
        )
        service = make_service(eager)
        with anyio.fail_after(DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                for i in range(5):  # what the min-buffer-size case waits for
                    collector.collect(i)
                await journal.wait_count("eager", "trained", 20)
        assert service.data_users["buf"].collector.collected == 5
        assert journal.count("eager", "skipped") == 0

    async def test_an_overridden_is_trainable_is_asked_again_on_new_data(
        self, journal: Journal
    ) -> None:
        class Pamiq(InstrumentedTrainer):
            def is_trainable(self) -> bool:
                user = self.get_data_user("buf")
                user.update()
                return len(user) >= 10

        pamiq = Pamiq("pamiq", journal)
        # a recheck far in the future: only new data may wake it
        service = make_service(pamiq, recheck_interval=60)
        with anyio.fail_after(DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                await journal.wait_count("pamiq", "skipped", 1)  # asked at start
                for i in range(9):
                    collector.collect(i)
                await journal.wait_count("pamiq", "skipped", 2)  # asked on new data
                await anyio.sleep(0.05)  # let time pass: nothing polls it
                assert journal.count("pamiq", "run") == 2
                collector.collect(9)
                await journal.wait_count("pamiq", "trained", 1)

    async def test_an_overridden_is_trainable_is_rechecked_after_the_interval(
        self, journal: Journal
    ) -> None:
        ready = threading.Event()

        class Flagged(InstrumentedTrainer):
            def is_trainable(self) -> bool:
                return ready.is_set()

        flagged = Flagged("flagged", journal)
        service = make_service(flagged, recheck_interval=0.05)
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("flagged", "skipped", 2)
                started = time.monotonic()
                ready.set()
                await journal.wait_count("flagged", "trained", 1)
                assert time.monotonic() - started < 1.0
        # asked about every 50 ms without data, not in a busy loop
        assert journal.count("flagged", "skipped") < 20

    async def test_min_interval_spaces_runs_by_deadline(self, journal: Journal) -> None:
        interval = 0.05
        spaced = InstrumentedTrainer("spaced", journal, condition=MinInterval(interval))
        service = make_service(spaced)
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                for _ in range(6):
                    await next_event(events, EventKind.FINISHED, "spaced")
                status = service.status().trainers["spaced"]
        times = journal.train_times["spaced"]
        assert len(times) >= 6
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert min(gaps) >= interval, gaps
        # waited on a deadline: never dispatched early only to be told no
        assert status.skipped == 0
        assert journal.count("spaced", "skipped") == 0
