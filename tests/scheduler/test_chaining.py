"""Runs chained in a worker: a trainer that is still trainable runs again without
a trip through the loop, and every invariant still holds while it does."""

from __future__ import annotations

import threading
import time

import anyio

from aiotrainer import EventKind, LocalExecutor, TrainerState
from helpers import (
    DEADLINE,
    CountingModel,
    InstrumentedTrainer,
    Journal,
    make_service,
    next_event,
)


def nap(trainer: InstrumentedTrainer) -> None:
    """A ``train()`` body that takes a little while, so that overlaps would show."""
    time.sleep(0.0005)


class TestChaining:
    async def test_runs_go_on_while_the_loop_is_blocked(self, journal: Journal) -> None:
        """Proof that the next run needs no loop iteration: the loop thread is
        held (deliberately, inside this test) while the worker keeps running."""
        enough = threading.Event()

        def count(trainer: InstrumentedTrainer) -> None:
            if journal.count("t", "train") >= 10:
                enough.set()

        trainer = InstrumentedTrainer("t", journal, body=count)
        service = make_service(trainer)
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                await journal.wait_count("t", "trained", 1)
                # Blocks the loop: no dispatch can happen until this returns.
                assert enough.wait(DEADLINE)
        assert journal.self_overlaps == []

    async def test_the_loop_learns_of_every_chained_run(self, journal: Journal) -> None:
        trainer = InstrumentedTrainer("t", journal, body=nap)
        service = make_service(trainer)
        kinds: list[EventKind] = []
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                async with service.events() as stream:
                    async for event in stream:
                        if event.trainer != "t":
                            continue
                        if event.kind in (EventKind.STARTED, EventKind.FINISHED):
                            kinds.append(event.kind)
                        if kinds.count(EventKind.FINISHED) >= 30:
                            break
                status = service.status().trainers["t"]
                assert status.runs >= 30
        # strictly alternating, each run announced once, none lost
        first = kinds.index(EventKind.STARTED)
        tail = kinds[first:]
        assert tail[::2] == [EventKind.STARTED] * len(tail[::2])
        assert tail[1::2] == [EventKind.FINISHED] * len(tail[1::2])
        final = service.status().trainers["t"]
        assert final.runs == journal.count("t", "trained")
        assert final.last_duration is not None and final.last_duration >= 0

    async def test_pause_waits_for_the_chain_and_stops_it(
        self, journal: Journal
    ) -> None:
        trainer = InstrumentedTrainer("t", journal, body=nap)
        service = make_service(trainer)
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                await journal.wait_count("t", "trained", 5)
                await service.pause()
                assert journal.in_flight() == 0
                assert service.status().running_trainers == 0
                runs = journal.count("t", "run")
                await journal.wait_count("t", "paused", 1)
                assert journal.busy_at_on_paused == []
                # still nothing ran after pause() returned
                assert journal.count("t", "run") == runs
                assert service.status().trainers["t"].state is TrainerState.PAUSED
                await service.resume()
                await journal.wait_count("t", "trained", runs + 3)

    async def test_a_trainer_waiting_for_the_worker_gets_its_turn(
        self, journal: Journal
    ) -> None:
        a = InstrumentedTrainer("a", journal, models=["m1"], body=nap)
        b = InstrumentedTrainer("b", journal, models=["m2"], body=nap)
        service = make_service(a, b, max_workers=1)
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                await journal.wait_count("a", "trained", 10)
                await journal.wait_count("b", "trained", 10)
        assert journal.most_in_run == 1

    async def test_a_trainer_waiting_for_a_model_gets_its_turn(
        self, journal: Journal
    ) -> None:
        a = InstrumentedTrainer("a", journal, models=["shared"], body=nap)
        b = InstrumentedTrainer("b", journal, models=["shared"], body=nap)
        service = make_service(a, b, max_workers=2)
        with anyio.fail_after(DEADLINE * 2):
            async with service:
                await journal.wait_count("a", "trained", 10)
                await journal.wait_count("b", "trained", 10)
        assert journal.model_overlaps == []
        assert journal.self_overlaps == []

    async def test_a_chain_stops_when_the_precheck_says_no(
        self, journal: Journal
    ) -> None:
        """A chain asks the pre-check before each further run: one run takes all
        12 items collected up front, and no second run (which would be skipped)
        follows it."""
        trainer = InstrumentedTrainer("t", journal, user="buf", min_new_data_count=4)
        service = make_service(trainer)
        with anyio.fail_after(DEADLINE):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                await service.pause()
                for i in range(12):
                    collect(i)
                await service.resume()
                event = await next_event(stream, EventKind.FINISHED, "t")
                # the FINISHED of a chain's last run comes once the chain ended
                assert event.trained
                assert journal.count("t", "run") == 1
        assert journal.count("t", "skipped") == 0

    async def test_shutdown_ends_a_chain_within_its_bound(
        self, journal: Journal
    ) -> None:
        trainer = InstrumentedTrainer("t", journal, body=nap)
        service = make_service(trainer, save_on_shutdown=False)
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("t", "trained", 5)
        assert journal.in_flight() == 0
        assert service.status().trainers["t"].state is TrainerState.STOPPED

    async def test_cancellation_ends_a_chain(self, journal: Journal) -> None:
        trainer = InstrumentedTrainer("t", journal, body=nap)
        executor = LocalExecutor(1, cancel_timeout=DEADLINE * 4)
        service = make_service(trainer, executor=executor, save_on_shutdown=False)
        start = time.monotonic()
        try:
            with anyio.CancelScope() as scope:
                async with service:
                    await journal.wait_count("t", "trained", 5)
                    scope.cancel()
                    await anyio.sleep_forever()
        finally:
            await executor.aclose()
        # the chain stopped at once: not abandoned after cancel_timeout
        assert time.monotonic() - start < DEADLINE * 2
        assert executor.abandoned == 0
        assert journal.in_flight() == 0

    async def test_a_failure_mid_chain_is_handled_by_the_policy(
        self, journal: Journal
    ) -> None:
        def fail_third(trainer: InstrumentedTrainer) -> None:
            if journal.count("t", "train") == 3:
                raise RuntimeError("third run fails")

        trainer = InstrumentedTrainer("t", journal, body=fail_third)
        service = make_service(trainer, on_error="disable")
        with anyio.fail_after(DEADLINE):
            async with service:
                async with service.events() as stream:
                    event = await next_event(stream, EventKind.FAILED, "t")
                status = service.status().trainers["t"]
        assert event.action == "disable"
        assert status.state is TrainerState.DISABLED
        assert (status.runs, status.failures) == (2, 1)
        assert "third run fails" in (status.last_error or "")

    async def test_a_model_retrieved_mid_run_ends_the_chain(
        self, journal: Journal
    ) -> None:
        """The next run holds the lock of a model the previous run retrieved."""
        holders: list[int] = []

        def retrieve_late(trainer: InstrumentedTrainer) -> None:
            trainer.get_training_model("m")
            lock = service._scheduler._model_locks.get("m")  # type: ignore[union-attr]
            holders.append(0 if lock is None else lock.held)

        trainer = InstrumentedTrainer("t", journal, body=retrieve_late)
        service = make_service(trainer, models={"m": CountingModel()})
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("t", "trained", 5)
        assert holders[0] == 0  # the first run retrieved it: no lock yet
        assert all(h == 1 for h in holders[1:])

    async def test_every_chained_run_is_recorded_in_the_metrics(
        self, journal: Journal
    ) -> None:
        trainer = InstrumentedTrainer("t", journal, body=nap)
        service = make_service(trainer)
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("t", "trained", 20)
        records = trainer.metrics.runs()
        assert [r.outcome for r in records] == ["trained"] * journal.count(
            "t", "trained"
        )
        assert [r.run for r in records] == list(range(1, len(records) + 1))
