"""Hooks that raise, retries on the same data, status before start, abandoned runs."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from aiotrainer import (
    ErrorPolicy,
    SequentialBuffer,
    Trainer,
    TrainersDict,
    TrainerService,
    TrainerState,
)
from helpers import wait_thread_event


class Hooked(Trainer):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.paused = 0
        self.resumed = 0

    def on_paused(self) -> None:
        self.paused += 1
        if self.fail:
            raise RuntimeError("cannot pause")

    def on_resumed(self) -> None:
        self.resumed += 1
        if self.fail:
            raise RuntimeError("cannot resume")

    def train(self) -> None:
        pass


class TestHooksReachEveryTrainer:
    def test_on_paused_and_on_resumed_call_all_then_raise_the_first(self) -> None:
        trainers = TrainersDict(
            {"a": Hooked(fail=True), "b": Hooked(), "c": Hooked(fail=True)}
        )
        with pytest.raises(RuntimeError, match="cannot pause"):
            trainers.on_paused()
        with pytest.raises(RuntimeError, match="cannot resume"):
            trainers.on_resumed()
        for trainer in trainers.values():
            assert isinstance(trainer, Hooked)
            assert (trainer.paused, trainer.resumed) == (1, 1)


class FailsOnce(Trainer):
    """Fails its first run; records the data each run saw."""

    def __init__(self) -> None:
        super().__init__("data", min_buffer_size=4, min_new_data_count=4)
        self.seen: list[list[Any]] = []
        self.done = threading.Event()

    def train(self) -> None:
        data = self.get_data_user("data").get_data()
        self.seen.append(data)
        if len(self.seen) == 1:
            raise RuntimeError("first run fails")
        self.done.set()


async def test_retry_runs_again_on_the_same_data() -> None:
    trainer = FailsOnce()
    service = TrainerService(
        buffers={"data": SequentialBuffer(100)},
        trainers={"t": trainer},
        on_error=ErrorPolicy("retry", backoff=0.01),
    )
    with anyio.fail_after(5):
        async with service:
            collector = service.data_collectors.acquire("data")
            for i in range(4):
                collector.collect(i)
            await wait_thread_event(trainer.done)
    # no new data came: the retry used the batch the failed run took
    assert trainer.seen == [[0, 1, 2, 3], [0, 1, 2, 3]]
    status = service.status().trainers["t"]
    assert (status.runs, status.failures) == (1, 1)


def test_status_before_start_lists_every_trainer() -> None:
    service = TrainerService(
        buffers={"data": SequentialBuffer(10)},
        trainers={"a": Hooked(), "b": Hooked()},
    )
    status = service.status()
    assert set(status.trainers) == {"a", "b"}
    assert all(t.state is TrainerState.STOPPED for t in status.trainers.values())
    assert status.buffers["data"].size == 0


class Stuck(Trainer):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release
        self.started = threading.Event()

    def train(self) -> None:
        self.started.set()
        self.release.wait(10)


async def test_a_run_that_outlives_shutdown_is_counted_in_status() -> None:
    release = threading.Event()
    trainer = Stuck(release)
    service = TrainerService(trainers={"stuck": trainer}, shutdown_timeout=0.05)
    try:
        with anyio.fail_after(5):
            async with service:
                await wait_thread_event(trainer.started)
        assert service.status().abandoned_runs == 1
    finally:
        release.set()
