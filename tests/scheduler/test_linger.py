"""Workers waiting in place (``linger``): after a run, a worker waits for its
trainer's next data, which then starts the next run without the loop; whatever
needs the worker elsewhere sends it back at once."""

from __future__ import annotations

import math
import threading

import anyio
import pytest

from aiotrainer import EventKind, SequentialBuffer, TrainerState
from helpers import (
    DEADLINE,
    Body,
    InstrumentedTrainer,
    Journal,
    make_service,
    next_event,
)

# Far longer than any bound below: a test passing within DEADLINE proves the
# worker was sent back, not that its wait ran out.
LONG = DEADLINE * 12


def signal_on_train(event: threading.Event, nth: int) -> Body:
    def body(trainer: InstrumentedTrainer) -> None:
        if trainer.journal.count(trainer.label, "train") >= nth:
            event.set()

    return body


def waiting_trainer(
    label: str,
    journal: Journal,
    *,
    user: str = "buf",
    models: tuple[str, ...] = (),
    body: Body | None = None,
) -> InstrumentedTrainer:
    """A trainer that runs on every new item."""
    return InstrumentedTrainer(
        label, journal, user=user, min_new_data_count=1, models=models, body=body
    )


class TestWaitingInPlace:
    async def test_the_next_data_starts_a_run_while_the_loop_is_blocked(
        self, journal: Journal
    ) -> None:
        """The collect() that brings the data wakes the waiting worker itself:
        the loop thread is held (deliberately) while the next run happens."""
        second = threading.Event()
        trainer = waiting_trainer("t", journal, body=signal_on_train(second, 2))
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                collect(2)
                # Blocks the loop: only the worker itself can start this run.
                assert second.wait(DEADLINE)
                await next_event(stream, EventKind.FINISHED, "t")
                assert service.status().trainers["t"].runs == 2
        assert journal.count("t", "skipped") == 0

    async def test_without_linger_the_loop_dispatches_every_run(
        self, journal: Journal
    ) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=0)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                for i in range(5):
                    collect(i)
                    await next_event(stream, EventKind.FINISHED, "t")
                assert service.status().trainers["t"].runs == 5

    async def test_a_waiting_worker_runs_nothing_and_the_status_says_so(
        self, journal: Journal
    ) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                service.data_collectors.acquire("buf").collect(1)
                finished = await next_event(stream, EventKind.FINISHED, "t")
                assert finished.trained
                status = service.status()
                assert status.running_trainers == 0
                assert status.trainers["t"].state is TrainerState.WAITING
                assert status.trainers["t"].runs == 1
                assert journal.in_flight() == 0

    async def test_every_run_is_counted_once_across_waits(
        self, journal: Journal
    ) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                started = finished = 0
                for i in range(20):
                    collect(i)
                    async for event in stream:
                        if event.trainer != "t":
                            continue
                        started += event.kind is EventKind.STARTED
                        finished += event.kind is EventKind.FINISHED
                        if event.kind is EventKind.FINISHED:
                            break
                assert (started, finished) == (20, 20)
        status = service.status().trainers["t"]
        assert status.runs == journal.count("t", "trained") == 20
        records = trainer.metrics.runs()
        assert [r.run for r in records] == list(range(1, 21))
        assert all(r.outcome == "trained" and r.duration >= 0 for r in records)

    async def test_pause_sends_a_waiting_worker_back(self, journal: Journal) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=LONG)
        async with service, service.events() as stream:
            collect = service.data_collectors.acquire("buf").collect
            with anyio.fail_after(DEADLINE):
                collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
                await service.pause()
            assert service.status().trainers["t"].state is TrainerState.PAUSED
            assert service.status().running_trainers == 0
            collect(2)  # paused: no run takes it
            await journal.wait_count("t", "paused", 1)
            assert journal.count("t", "run") == 1
            with anyio.fail_after(DEADLINE):
                await service.resume()
                await journal.wait_count("t", "trained", 2)

    @pytest.mark.parametrize(
        ("workers", "models"),
        [(1, ()), (2, ("shared",))],
        ids=["for the worker", "for a shared model"],
    )
    async def test_a_trainer_waiting_for_what_a_waiting_worker_holds_gets_it(
        self, journal: Journal, workers: int, models: tuple[str, ...]
    ) -> None:
        a = waiting_trainer("a", journal, user="a", models=models)
        b = waiting_trainer("b", journal, user="b", models=models)
        service = make_service(
            a, b, max_workers=workers, linger=LONG, buffers=_buffers("a", "b")
        )
        async with service:
            with anyio.fail_after(DEADLINE):
                service.data_collectors.acquire("a").collect(1)
                await journal.wait_count("a", "trained", 1)
                service.data_collectors.acquire("b").collect(1)
                await journal.wait_count("b", "trained", 1)
        assert journal.most_in_run == 1  # one worker, or one holder of the model
        assert journal.model_overlaps == []

    async def test_shutdown_does_not_wait_for_a_waiting_worker(
        self, journal: Journal
    ) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE):
            async with service, service.events() as stream:
                service.data_collectors.acquire("buf").collect(1)
                await next_event(stream, EventKind.FINISHED, "t")
        assert service.status().trainers["t"].runs == 1

    async def test_cancellation_does_not_wait_for_a_waiting_worker(
        self, journal: Journal
    ) -> None:
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=LONG)
        with anyio.fail_after(DEADLINE):
            with anyio.CancelScope() as scope:
                async with service, service.events() as stream:
                    service.data_collectors.acquire("buf").collect(1)
                    await next_event(stream, EventKind.FINISHED, "t")
                    scope.cancel()
                    await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert journal.count("t", "trained") == 1

    async def test_a_worker_whose_wait_ran_out_goes_back_to_the_pool(
        self, journal: Journal
    ) -> None:
        """A wait far shorter than the gaps between items runs out each time:
        the loop then dispatches the next run, and none is lost or doubled."""
        trainer = waiting_trainer("t", journal)
        service = make_service(trainer, linger=1e-6)
        with anyio.fail_after(DEADLINE * 2):
            async with service, service.events() as stream:
                collect = service.data_collectors.acquire("buf").collect
                for i in range(10):
                    collect(i)
                    await next_event(stream, EventKind.FINISHED, "t")
                assert service.status().running_trainers == 0
        assert service.status().trainers["t"].runs == journal.count("t", "trained")
        assert journal.count("t", "trained") == 10


def _buffers(*names: str) -> dict[str, SequentialBuffer[int]]:
    return {name: SequentialBuffer[int](100) for name in names}


class TestLingerArgument:
    @pytest.mark.parametrize("value", [-1, -0.5, math.nan, math.inf])
    def test_a_bad_value_is_refused(self, value: float) -> None:
        with pytest.raises(ValueError, match=r"linger must be a finite number"):
            make_service(linger=value)

    @pytest.mark.parametrize("value", ["0.1", None, True])
    def test_a_non_number_is_refused(self, value: object) -> None:
        with pytest.raises(TypeError, match=r"linger must be a number of seconds"):
            make_service(linger=value)
