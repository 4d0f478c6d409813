"""Edge cases of service checkpoints: frozen models, accounting after restore,
a stop during the restore."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiotrainer import (
    CheckpointStore,
    DataUser,
    EventKind,
    SequentialBuffer,
    ServiceState,
    ServiceStateError,
    TrainerService,
)
from aiotrainer.demo import LinearModel, LinearRegressionTrainer
from helpers import DEADLINE, InstrumentedTrainer, Journal, wait_thread_event


class FrozenModel(LinearModel):
    """A model used only for inference: never trained, but saved and restored."""

    def __init__(self) -> None:
        super().__init__()
        self.inference_thread_only = True


async def test_inference_thread_only_models_are_saved_and_restored(
    tmp_path: Path,
) -> None:
    frozen = FrozenModel()
    frozen.w = [1.0, 2.0, 3.0]
    service = TrainerService(
        models={"linear": LinearModel(), "frozen": frozen},
        buffers={"samples": SequentialBuffer(100)},
        trainers={"sgd": LinearRegressionTrainer()},
        state_dir=tmp_path,
        save_on_shutdown=False,
    )
    async with service:
        path = await service.save_state()
    assert (path / "models" / "frozen.json").exists()
    fresh = FrozenModel()
    again = TrainerService(
        models={"linear": LinearModel(), "frozen": fresh},
        buffers={"samples": SequentialBuffer(100)},
        trainers={"sgd": LinearRegressionTrainer()},
        state_dir=tmp_path,
        resume_from="latest",
        save_on_shutdown=False,
    )
    async with again:
        assert fresh.w == [1.0, 2.0, 3.0]


def test_accounting_holds_after_load_state(tmp_path: Path) -> None:
    source = DataUser(SequentialBuffer(10))
    for i in range(7):
        source.collector.collect(i)
    source.save_state(tmp_path / "u")

    user = DataUser(SequentialBuffer(10))
    for i in range(4):
        user.collector.collect(100 + i)
    user.update()
    user.collector.collect(200)  # pending
    user.load_state(tmp_path / "u")
    stats = user.statistics()
    assert stats.restored == 7
    assert stats.stored == 7
    assert stats.pending == 1
    assert stats.dropped == 4  # the 4 items the load replaced
    assert (
        stats.collected + stats.restored == stats.pending + stats.stored + stats.dropped
    )


async def test_buffer_status_accounts_for_restored_items(tmp_path: Path) -> None:
    service = TrainerService(
        buffers={"samples": SequentialBuffer(100)},
        state_dir=tmp_path,
        save_on_shutdown=False,
    )
    async with service:
        collector = service.data_collectors.acquire("samples")
        for i in range(30):
            collector.collect(i)
        await service.save_state()
    again = TrainerService(
        buffers={"samples": SequentialBuffer(100)},
        state_dir=tmp_path,
        resume_from="latest",
        save_on_shutdown=False,
    )
    async with again:
        again.data_collectors.acquire("samples").collect(99)
        buf = again.status().buffers["samples"]
        assert (buf.restored, buf.collected) == (30, 1)
        assert buf.collected + buf.restored == buf.pending + buf.size + buf.dropped


class GatedLoadModel(LinearModel):
    """A model whose ``load_state`` signals that it began, then waits for
    ``release`` (from the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = threading.Event()
        self.release = threading.Event()

    def load_state(self, path: Path) -> None:
        self.loading.set()
        self.release.wait(DEADLINE)
        super().load_state(path)


class TestStopDuringTheRestore:
    """A stop() while the restore runs used to start the trainers anyway, then
    stop them and write a final checkpoint of nothing new over the one just
    loaded."""

    @staticmethod
    async def _first_checkpoint(state_dir: Path) -> list[str]:
        first = TrainerService(
            models={"linear": LinearModel()},
            buffers={"samples": SequentialBuffer(100)},
            trainers={"t": InstrumentedTrainer("t", Journal())},
            state_dir=state_dir,
            save_on_shutdown=False,
        )
        async with first:
            await first.save_state()
        return [c.name for c in CheckpointStore(state_dir).list()]

    @staticmethod
    def _restoring(
        state_dir: Path, journal: Journal, **options: Any
    ) -> tuple[TrainerService, GatedLoadModel]:
        """A service that resumes from ``state_dir``, its restore held by the
        model's gate, and that model."""
        model = GatedLoadModel()
        service = TrainerService(
            models={"linear": model},
            buffers={"samples": SequentialBuffer(100)},
            trainers={"t": InstrumentedTrainer("t", journal)},  # always trainable
            state_dir=state_dir,
            resume_from="latest",
            **options,
        )
        return service, model

    @pytest.mark.parametrize("collect", [False, True], ids=["idle", "collected"])
    async def test_it_ends_after_the_restore_having_run_nothing(
        self, tmp_path: Path, journal: Journal, collect: bool
    ) -> None:
        before = await self._first_checkpoint(tmp_path)
        service, model = self._restoring(tmp_path, journal)
        collector = service.data_collectors.acquire("samples")
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.run_until_stopped)
                await wait_thread_event(model.loading)
                assert service.state is ServiceState.STARTING
                service.stop_nowait()
                if collect:
                    collector.collect([0.1, 0.2, 0.3, 1.0])
                model.release.set()
                await service.stop()
        assert service.state is ServiceState.STOPPED
        assert service.restore_report is not None  # the restore finished
        assert journal.count("t", "run") == 0  # no trainer ran
        after = [c.name for c in CheckpointStore(tmp_path).list()]
        if collect:  # nothing is lost: the item is in a final checkpoint
            assert after[:-1] == before and len(after) == len(before) + 1
        else:  # the one just loaded stays the newest
            assert after == before

    async def test_the_events_say_stopping_then_stopped(
        self, tmp_path: Path, journal: Journal
    ) -> None:
        await self._first_checkpoint(tmp_path)
        service, model = self._restoring(tmp_path, journal)
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.run_until_stopped)
                await wait_thread_event(model.loading)
                async with service.events() as stream:
                    service.stop_nowait()
                    model.release.set()
                    # the stream ends when the service stops
                    kinds = [event.kind async for event in stream]
        assert kinds == [EventKind.SERVICE_STOPPING, EventKind.SERVICE_STOPPED]

    async def test_a_save_during_the_restore_is_no_error(
        self, tmp_path: Path, journal: Journal
    ) -> None:
        """save_state() while the service starts used to fail on an assertion
        (waiting for workers waiting in place, before the scheduler ran)."""
        await self._first_checkpoint(tmp_path)
        service, model = self._restoring(tmp_path, journal, save_on_shutdown=False)
        saved: list[Path] = []
        done = anyio.Event()

        async def save() -> None:
            try:
                saved.append(await service.save_state())
            finally:
                done.set()

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.run_until_stopped)
                await wait_thread_event(model.loading)
                assert service.state is ServiceState.STARTING
                tg.start_soon(save)
                await anyio.wait_all_tasks_blocked()  # the save began
                model.release.set()
                await done.wait()
                await service.stop()
        assert saved and saved[0].is_dir()

    async def test_stop_nowait_before_the_start_is_final(self) -> None:
        service = TrainerService(buffers={"samples": SequentialBuffer(10)})
        service.stop_nowait()
        assert service.state is ServiceState.STOPPED
        with pytest.raises(ServiceStateError, match="starts once; this one is stopped"):
            async with service:
                pass
