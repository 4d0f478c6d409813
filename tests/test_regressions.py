"""Regression tests for defects a review found (each failed before its fix), with
real threads on a real loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import aiotrainer.cli
from aiotrainer import (
    CheckpointStore,
    EventKind,
    LocalExecutor,
    SequentialBuffer,
    ServiceStateError,
    Trainer,
    TrainerService,
)
from aiotrainer.state import snapshot
from helpers import DEADLINE, CountingModel, next_event


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Blocked ``train()`` bodies wait on it; set at teardown at the latest."""
    event = threading.Event()
    yield event
    event.set()


class _BlockingTrainer(Trainer):
    """Trains once per collected item; ``train()`` blocks until ``release``."""

    def __init__(self, release: threading.Event, hold: float = DEADLINE) -> None:
        super().__init__("buf", min_buffer_size=1, min_new_data_count=1)
        self.release = release
        self.hold = hold
        self.in_train = threading.Event()
        self.entered = threading.Event()

    def on_training_models_attached(self) -> None:
        self.get_training_model("m")

    def train(self) -> None:
        self.in_train.set()
        self.entered.set()
        try:
            self.release.wait(self.hold)
        finally:
            self.in_train.clear()


class _SpyModel(CountingModel):
    """Records whether a trainer was inside ``train()`` when it was saved."""

    def __init__(self) -> None:
        super().__init__()
        self.trainer: _BlockingTrainer | None = None
        self.saved_during_train: list[bool] = []

    def save_state(self, path: Path) -> None:
        assert self.trainer is not None
        self.saved_during_train.append(self.trainer.in_train.is_set())
        path.mkdir()


async def _wait_thread_event(event: threading.Event, within: float = DEADLINE) -> None:
    with anyio.fail_after(within):
        await anyio.to_thread.run_sync(event.wait, within)
    assert event.is_set()


# -- 1 ------------------------------------------------------------


async def test_shutdown_is_bounded_with_a_caller_supplied_local_executor(
    release: threading.Event,
) -> None:
    """DESIGN: shutdown lets runs in flight finish *within a bound*. With a
    ``LocalExecutor`` passed in (default ``cancel_timeout=inf``) the scheduler's
    cancellation waits, shielded and unbounded, for a stuck ``train()``: leaving
    the service takes as long as the run, whatever ``shutdown_timeout`` says."""
    hold = 3.0
    trainer = _BlockingTrainer(release, hold=hold)
    service = TrainerService(
        models={"m": CountingModel()},
        buffers={"buf": SequentialBuffer(10)},
        trainers={"t": trainer},
        executor=LocalExecutor(1),
        shutdown_timeout=0.2,
    )
    async with service:
        service.data_collectors["buf"].collect(1)
        await _wait_thread_event(trainer.entered)
        started = time.monotonic()
    took = time.monotonic() - started
    # the bug: took ~= hold (the run's own length), not ~shutdown_timeout
    assert took < 1.5, f"leaving the service took {took:.2f} s, shutdown_timeout=0.2"


# -- 2 ------------------------------------------------------------


async def test_save_state_while_stopping_never_captures_a_run_in_flight(
    tmp_path: Path, release: threading.Event
) -> None:
    """``_quiesced()`` skips quiescing once the state is STOPPING, yet runs are
    still in flight then (``_shutdown`` waits up to shutdown_timeout for them). A
    ``save_state()`` (or a periodic save) in that window snapshots models while
    ``train()`` mutates them."""
    trainer = _BlockingTrainer(release)
    model = _SpyModel()
    model.trainer = trainer
    service = TrainerService(
        models={"m": model},
        buffers={"buf": SequentialBuffer(10)},
        trainers={"t": trainer},
        state_dir=tmp_path,
        save_on_shutdown=False,
        shutdown_timeout=DEADLINE,
    )
    events = service.events()
    async with anyio.create_task_group() as tg, service:
        service.data_collectors["buf"].collect(1)
        await _wait_thread_event(trainer.entered)
        tg.start_soon(service.stop)
        await next_event(events, EventKind.SERVICE_STOPPING)
        assert trainer.in_train.is_set()  # the run is still in flight
        with anyio.move_on_after(1.0):
            try:
                await service.save_state()
            except ServiceStateError:
                pass  # refusing to save while stopping is a fine fix too
        release.set()
    assert model.saved_during_train == [] or not any(model.saved_during_train), (
        "a checkpoint captured the model while train() was running"
    )


# -- 3 ------------------------------------------------------------


def test_listing_checkpoints_does_not_break_a_save_in_progress(tmp_path: Path) -> None:
    """``snapshot.capture`` stages models/trainers in ``<root>/.tmp-capture-*``
    without the lock that ``CheckpointStore.clean_stale`` respects; any other store
    opened on the root meanwhile (``aiotrainer checkpoints DIR``, a second
    service, ``resume_from=<path>``) deletes it and the save fails."""
    store = CheckpointStore(tmp_path)
    models = {"m": _PlainModel()}
    writer = snapshot.capture(models, {}, {}, staging_root=store.root)
    # an operator lists the checkpoints while the service is saving
    assert aiotrainer.cli.main(["checkpoints", str(tmp_path)]) == 0
    checkpoint = store.save(writer, metadata={})  # was CheckpointSaveError
    assert (checkpoint.path / "models" / "m" / "weights").read_text() == "w"


class _PlainModel(CountingModel):
    def save_state(self, path: Path) -> None:
        path.mkdir()
        (path / "weights").write_text("w")


# -- 4 ------------------------------------------------------------


class _LazyModelTrainer(Trainer):
    """Retrieves its model in ``setup()`` (legal: pamiq-core only asks that models
    be retrieved before use), then meets the other trainer in ``train()``."""

    def __init__(self, barrier: threading.Barrier, overlaps: list[str]) -> None:
        super().__init__("buf", min_buffer_size=1, min_new_data_count=1)
        self.barrier = barrier
        self.overlaps = overlaps

    def setup(self) -> None:
        self.get_training_model("shared")

    def train(self) -> None:
        try:
            self.barrier.wait()  # both trainers inside train() at once
            self.overlaps.append("overlap")
        except threading.BrokenBarrierError:
            pass


async def test_a_model_retrieved_during_a_run_is_locked_from_the_next_run_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DESIGN: two trainers that retrieved the same training model never run at the
    same time. Locks are taken before a run, so a model first retrieved inside a
    run is unlocked on that run (documented, and warned about); every later run of
    either trainer holds its lock, so they no longer overlap."""
    barrier = threading.Barrier(2, timeout=0.3)
    overlaps: list[str] = []
    a = _LazyModelTrainer(barrier, overlaps)
    b = _LazyModelTrainer(barrier, overlaps)
    service = TrainerService(
        models={"shared": CountingModel()},
        buffers={"buf": SequentialBuffer(10)},
        trainers={"a": a, "b": b},
        max_workers=2,
        shutdown_timeout=DEADLINE,
    )
    events = service.events()
    with anyio.fail_after(DEADLINE):
        async with service:
            collector = service.data_collectors["buf"]
            collector.collect(1)
            await next_event(events, EventKind.FINISHED)
            await next_event(events, EventKind.FINISHED)
            assert "retrieved model(s) 'shared' during a run" in caplog.text
            first_runs = len(overlaps)
            collector.collect(2)
            await next_event(events, EventKind.FINISHED)
            await next_event(events, EventKind.FINISHED)
    assert len(overlaps) == first_runs, "later runs on the shared model overlapped"


# -- 5 ------------------------------------------------------------


class _Boom(Exception):
    pass


class _RaiseAfterReleaseTrainer(_BlockingTrainer):
    def train(self) -> None:
        super().train()
        raise RuntimeError("boom after release")


async def test_a_run_that_raises_while_cancellation_waits_for_it_is_reported(
    release: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    """``LocalExecutor.run`` awaits a started run (shielded) after a cancellation,
    then re-raises CancelledError; the run's own exception, delivered by
    ``_Job.finish`` into the already-cancelled future, is dropped: nothing logs
    it and ``status()`` counts no failure."""
    trainer = _RaiseAfterReleaseTrainer(release)
    service = TrainerService(
        models={"m": CountingModel()},
        buffers={"buf": SequentialBuffer(10)},
        trainers={"t": trainer},
        shutdown_timeout=DEADLINE,
    )
    with pytest.raises(_Boom):
        async with service:
            service.data_collectors["buf"].collect(1)
            await _wait_thread_event(trainer.entered)
            # released from another thread while the shielded wait is under way
            threading.Timer(0.3, release.set).start()
            raise _Boom  # the body fails: the service is cancelled, not stopped
    assert not trainer.in_train.is_set()
    logged = "boom after release" in caplog.text
    counted = service.status().trainers["t"].failures
    assert logged or counted, "the trainer's exception vanished without a trace"


# -- 6 ------------------------------------------------------------


async def test_a_pause_that_completes_during_shutdown_does_not_resurrect_the_state(
    release: threading.Event,
) -> None:
    """``pause()`` checks for RUNNING only before its (long) wait for quiescence,
    then sets PAUSED unconditionally. ``stop()`` does not take ``_transition``, so a
    pause that was waiting when the service stopped overwrites STOPPING/STOPPED
    with PAUSED (and calls ``on_paused`` during shutdown); ``resume()`` would then
    "resume" a stopped service."""
    trainer = _BlockingTrainer(release)
    service = TrainerService(
        models={"m": CountingModel()},
        buffers={"buf": SequentialBuffer(10)},
        trainers={"t": trainer},
        shutdown_timeout=DEADLINE,
    )
    events = service.events()
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg, service:
            service.data_collectors["buf"].collect(1)
            await _wait_thread_event(trainer.entered)
            tg.start_soon(service.pause)  # waits for the run
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(service.stop)
            await next_event(events, EventKind.SERVICE_STOPPING)
            release.set()  # the run ends: pause() and shutdown both proceed
        # both tasks done
    assert service.state.value == "stopped", f"state after stop: {service.state}"
