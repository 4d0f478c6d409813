"""Checkpoint faults that lost data silently: half-updated final saves, saves
that vanished, fresh starts over unloadable state, restores into smaller
buffers, saves after a refused restore, and staging left by cancelled saves."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiotrainer import (
    EventKind,
    SequentialBuffer,
    ServiceEvent,
    ServiceStateError,
    Trainer,
    TrainerService,
)
from aiotrainer.cli import main
from aiotrainer.state import (
    CheckpointMismatchError,
    CheckpointRefusedError,
    CheckpointSaveError,
    CheckpointStore,
    StateRootError,
)
from aiotrainer.state.store import mark_temporary
from helpers import (
    DEADLINE,
    CountingModel,
    NoopTrainer,
    next_event,
    wait_thread_event,
)


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".tmp-"))


class Stuck(Trainer):
    """Retrieves its model and changes it in a train() that waits on ``release``."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release
        self.started = threading.Event()

    def on_training_models_attached(self) -> None:
        self.model = self.get_training_model("m")

    def train(self) -> None:
        assert isinstance(self.model, CountingModel)
        self.model.version += 1  # half-updated until release
        self.started.set()
        self.release.wait(DEADLINE)
        self.model.version += 1


class SlowToSave(CountingModel):
    """A model whose save_state waits on ``release`` (at most ``DEADLINE``)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.saving = threading.Event()

    def save_state(self, path: Path) -> None:
        self.saving.set()
        self.release.wait(DEADLINE)
        path.mkdir()


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a worker thread waiting


async def collect_events(service: TrainerService) -> list[ServiceEvent]:
    return [event async for event in service.events()]


class TestFinalSave:
    async def test_skipped_while_an_abandoned_run_holds_its_model(
        self, tmp_path: Path, released: threading.Event
    ) -> None:
        # The final save captured the model the abandoned run was mutating: a
        # checkpoint with valid checksums holding a half-updated model.
        trainer = Stuck(released)
        service = TrainerService(
            models={"m": CountingModel()},
            trainers={"stuck": trainer},
            state_dir=tmp_path,
            shutdown_timeout=0.05,
        )
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                await wait_thread_event(trainer.started)
            seen = [event async for event in events]
        skipped = [e for e in seen if e.kind is EventKind.SAVE_SKIPPED]
        assert len(skipped) == 1 and "'stuck'" in (skipped[0].error or "")
        status = service.status()
        assert status.last_save_skipped == skipped[0].error
        assert (status.saves_skipped, status.abandoned_runs) == (1, 1)
        assert CheckpointStore(tmp_path).list() == []

    async def test_one_slower_than_save_timeout_is_reported(
        self, tmp_path: Path
    ) -> None:
        # It vanished: no checkpoint, no log, no event, no last_save_error.
        model = SlowToSave()
        service = TrainerService(
            models={"m": model},
            trainers={"t": NoopTrainer()},
            state_dir=tmp_path,
            save_timeout=0.05,
        )
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:

                async def release_when_bound_passed() -> None:
                    await wait_thread_event(model.saving)
                    await anyio.sleep(0.2)  # past save_timeout: no ordering here
                    model.release.set()

                async with service:
                    tg.start_soon(release_when_bound_passed)
            seen = [event async for event in events]
        failed = [e for e in seen if e.kind is EventKind.SAVE_FAILED]
        assert [e.error for e in failed] == [
            "the final checkpoint did not finish within save_timeout=0.05 s"
        ]
        assert service.status().last_save_error == failed[0].error
        assert CheckpointStore(tmp_path).list() == []
        assert leftovers(tmp_path) == []


class TestCancelledSave:
    async def test_its_staging_directory_is_removed_at_once(
        self, tmp_path: Path
    ) -> None:
        model = SlowToSave()
        service = TrainerService(
            models={"m": model},
            trainers={"t": NoopTrainer()},
            state_dir=tmp_path,
            save_on_shutdown=False,
        )
        gc.disable()  # "until garbage collection" must not be what cleans it
        try:
            with anyio.fail_after(DEADLINE):
                async with service:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(service.save_state)
                        await wait_thread_event(model.saving)
                        tg.cancel_scope.cancel()
                        model.release.set()  # the capture ends as it is cancelled
                    assert leftovers(tmp_path) == []
                    status = service.status()
        finally:
            gc.enable()
        assert status.last_save_error == "the save was cancelled before it was written"
        assert CheckpointStore(tmp_path).list() == []


def filled_service(state_dir: Path, n: int, **kwargs: Any) -> TrainerService:
    buffer = kwargs.pop("buffer", None)  # not ``or``: an empty buffer is falsy
    return TrainerService(
        buffers={"buf": SequentialBuffer(100) if buffer is None else buffer},
        trainers={"t": NoopTrainer()},
        state_dir=state_dir,
        **kwargs,
    )


async def save_items(state_dir: Path, n: int) -> None:
    service = filled_service(state_dir, n)
    async with service:
        collector = service.data_collectors.acquire("buf")
        for i in range(n):
            collector.collect(i)
        service.data_users["buf"].update()


class TestRestore:
    async def test_latest_refuses_when_checkpoints_exist_and_none_loads(
        self, tmp_path: Path
    ) -> None:
        # Only a warning, then a fresh start whose final save shadowed them.
        await save_items(tmp_path, 5)
        (checkpoint,) = CheckpointStore(tmp_path).list()
        pickled = checkpoint.path / "data" / "buf" / "buffer.pkl"
        pickled.write_bytes(pickled.read_bytes()[:3])
        service = filled_service(tmp_path, 0, resume_from="latest")
        with anyio.fail_after(DEADLINE):
            with pytest.raises(CheckpointRefusedError) as refused:
                async with service:
                    pass
        assert refused.value.refused[0][0] == checkpoint.name
        assert "truncated" in str(refused.value)
        assert checkpoint.name in str(refused.value)
        # nothing was written over it
        assert names(tmp_path) == [checkpoint.name]
        # and the refused service cannot write its fresh state either
        with pytest.raises(ServiceStateError, match="was refused"):
            await service.save_state()
        assert names(tmp_path) == [checkpoint.name]

    async def test_latest_starts_fresh_in_an_empty_directory(
        self, tmp_path: Path
    ) -> None:
        service = filled_service(tmp_path, 0, resume_from="latest")
        with anyio.fail_after(DEADLINE):
            async with service:
                pass
        assert len(CheckpointStore(tmp_path).list()) == 1

    async def test_a_smaller_buffer_is_a_mismatch_under_strict(
        self, tmp_path: Path
    ) -> None:
        # 90 of 100 items vanished, the report silent.
        await save_items(tmp_path, 100)
        service = filled_service(
            tmp_path, 0, buffer=SequentialBuffer(10), resume_from="latest"
        )
        with anyio.fail_after(DEADLINE):
            with pytest.raises(
                CheckpointMismatchError,
                match=r"data user 'buf' holds 100 items in the checkpoint but its "
                r"buffer holds at most 10: 90 would be lost",
            ):
                async with service:
                    pass

    async def test_a_smaller_buffer_counts_the_loss_when_not_strict(
        self, tmp_path: Path
    ) -> None:
        await save_items(tmp_path, 100)
        service = filled_service(
            tmp_path,
            0,
            buffer=SequentialBuffer(10),
            resume_from="latest",
            strict=False,
            save_on_shutdown=False,
        )
        with anyio.fail_after(DEADLINE):
            async with service:
                report = service.restore_report
                assert service.status().buffers["buf"].size == 10
        assert report is not None
        assert report.lost == {"buf": 90}
        assert any("90 would be lost" in d for d in report.differences)


class TestNothingOutsideTheStore:
    def test_an_empty_state_dir_is_refused(self) -> None:
        # "" meant the current directory, whose .tmp-* directories went away.
        with pytest.raises(ValueError, match=r"state_dir must name a directory"):
            TrainerService(trainers={"t": NoopTrainer()}, state_dir="")

    def test_a_users_tmp_directory_survives_the_store(self, tmp_path: Path) -> None:
        notes = tmp_path / ".tmp-my-notes"
        notes.mkdir()
        (notes / "todo.txt").write_text("keep me")
        empty = tmp_path / ".tmp-empty"
        empty.mkdir()
        store = CheckpointStore(tmp_path)
        store.save(lambda d: (d / "x").write_text("1"))
        assert store.clean_stale() == []
        assert (notes / "todo.txt").read_text() == "keep me"
        assert empty.is_dir()

    def test_a_crashed_saves_directory_is_still_removed(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path)
        # left by a save killed mid-write (marked), or before its marking (empty)
        marked = tmp_path / ".tmp-2026-11-25T10-05-00.000001Z-abcd1234"
        marked.mkdir()
        mark_temporary(marked)
        (marked / "model.bin").write_bytes(b"half")
        unmarked = tmp_path / ".tmp-capture-zyxw9876"
        unmarked.mkdir()
        assert sorted(p.name for p in store.clean_stale()) == sorted(
            [marked.name, unmarked.name]
        )

    def test_listing_read_only_writes_and_removes_nothing(self, tmp_path: Path) -> None:
        store = CheckpointStore(tmp_path)
        saved = store.save(lambda d: (d / "x").write_text("1"))
        crashed = tmp_path / ".tmp-2026-11-25T10-05-00.000001Z-abcd1234"
        crashed.mkdir()
        mark_temporary(crashed)
        before = sorted(p.name for p in tmp_path.iterdir())
        reader = CheckpointStore(tmp_path, read_only=True)
        assert reader.list() == [saved]
        assert reader.verify(saved) == saved
        assert reader.clean_stale() == []
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        with pytest.raises(CheckpointSaveError, match="read_only=True"):
            reader.save(lambda d: None)
        with pytest.raises(StateRootError, match="is not a directory"):
            CheckpointStore(tmp_path / "missing", read_only=True)
        assert not (tmp_path / "missing").exists()

    @pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
    def test_the_cli_lists_a_read_only_directory(self, tmp_path: Path) -> None:
        CheckpointStore(tmp_path).save(lambda d: (d / "x").write_text("1"))
        tmp_path.chmod(0o500)
        try:
            assert main(["checkpoints", str(tmp_path), "--verify"]) == 0
        finally:
            tmp_path.chmod(0o700)


class BlockingSaveModel(CountingModel):
    """Its first ``save_state`` waits on ``release`` (after setting ``entered``)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def save_state(self, path: Path) -> None:
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(DEADLINE)
        path.write_text(str(self.version))

    def load_state(self, path: Path) -> None:
        self.version = int(path.read_text())


async def stop_during_a_periodic_save(
    state_dir: Path, *, save_on_shutdown: bool
) -> TrainerService:
    """Run a service until a periodic save is capturing, stop it, let that save
    end only once shutdown has begun; return the stopped service."""
    model = BlockingSaveModel()
    service = TrainerService(
        models={"m": model},
        buffers={"b": SequentialBuffer(4)},
        # waits for data that never comes: no run competes with the saves
        trainers={"t": NoopTrainer("b", min_buffer_size=1)},
        state_dir=state_dir,
        save_interval=0.05,
        save_on_shutdown=save_on_shutdown,
    )
    async with (
        service,
        service.events() as stream,
        anyio.create_task_group() as tg,
    ):
        await wait_thread_event(model.entered)  # a periodic save is capturing
        tg.start_soon(service.stop)
        await next_event(stream, EventKind.SERVICE_STOPPING)
        model.release.set()  # the periodic save ends, cancelled
    return service


class TestPeriodicSaveAtShutdown:
    async def test_a_periodic_save_interrupted_by_shutdown_is_no_failure(
        self, tmp_path: Path
    ) -> None:
        service = await stop_during_a_periodic_save(tmp_path, save_on_shutdown=True)
        status = service.status()
        assert status.saves_failed == 0
        assert status.last_save_error is None
        # the final checkpoint followed and holds the model
        (final,) = CheckpointStore(tmp_path, read_only=True).list()
        assert (final.path / "models" / "m").read_text() == "0"

    async def test_without_a_final_save_the_interruption_is_reported(
        self, tmp_path: Path
    ) -> None:
        service = await stop_during_a_periodic_save(tmp_path, save_on_shutdown=False)
        status = service.status()
        assert status.saves_failed == 1
        assert status.last_save_error is not None
        assert "periodic save was cancelled" in status.last_save_error
