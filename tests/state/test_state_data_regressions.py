"""Regression tests for state and data defects a review found (each failed before its fix)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiotrainer import DataBuffer, DataUser, SequentialBuffer, Trainer, TrainerService

DEADLINE = 5.0


class _NewDataTrainer(Trainer):
    """pamiq-core style: trains once 3 new items arrived in 'samples'."""

    def __init__(self) -> None:
        super().__init__("samples", min_buffer_size=0, min_new_data_count=3)
        self.ran = threading.Event()
        self.runs = 0

    def train(self) -> None:
        self.runs += 1
        self.ran.set()


async def _wait_event(ev: threading.Event, limit: float) -> bool:
    with anyio.move_on_after(limit):
        while not ev.is_set():  # noqa: ASYNC110 - set from a worker thread
            await anyio.sleep(0.01)
        return True
    return False


async def test_resumed_trainer_counts_restored_new_items(tmp_path: Path) -> None:
    """After resume, is_trainable() (pamiq-core's rule) holds as soon as one more
    item arrives: 2 new items were in the checkpoint, 1 comes now, 3 >= 3. The
    scheduler's MinNewData pre-check counts only items collected in this process
    (collected_at_previous_training is not saved), so it never dispatches."""
    state = tmp_path / "state"
    first = _NewDataTrainer()
    async with TrainerService(
        buffers={"samples": SequentialBuffer(100)},
        trainers={"t": first},
        state_dir=state,
        save_on_shutdown=False,
    ) as service:
        collector = service.data_collectors.acquire("samples")
        for i in range(3):
            collector.collect(i)
        assert await _wait_event(first.ran, DEADLINE)
        collector.collect(3)
        collector.collect(4)  # 2 new items since the last training: not enough
        await service.save_state()

    second = _NewDataTrainer()
    async with TrainerService(
        buffers={"samples": SequentialBuffer(100)},
        trainers={"t": second},
        state_dir=state,
        resume_from="latest",
        save_on_shutdown=False,
    ) as service:
        service.data_collectors.acquire("samples").collect(5)  # now 3 new items
        ran = await _wait_event(second.ran, 2.0)
        if not ran:
            # the authoritative check agrees that it is trainable
            assert second.is_trainable(), "test premise"
        assert ran, "resumed trainer with 3 new items was never dispatched"


async def test_resume_from_path_leaves_unrelated_tmp_dirs_alone(
    tmp_path: Path,
) -> None:
    """resume_from=<path> without a state_dir opens a CheckpointStore on the path's
    parent, whose clean_stale() deletes every '.tmp-*' directory there."""
    state = tmp_path / "state"
    async with TrainerService(
        buffers={"samples": SequentialBuffer(10)},
        trainers={"t": _NewDataTrainer()},
        state_dir=state,
        save_on_shutdown=False,
    ) as service:
        saved = await service.save_state()
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    ckpt = shipped / saved.name
    shutil.copytree(saved, ckpt)
    user_dir = shipped / ".tmp-my-notes"
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("precious")

    async with TrainerService(
        buffers={"samples": SequentialBuffer(10)},
        trainers={"t": _NewDataTrainer()},
        resume_from=ckpt,
    ):
        pass
    assert (user_dir / "notes.txt").exists(), "an unrelated .tmp-* dir was deleted"


async def test_resume_from_missing_path_creates_no_directories(
    tmp_path: Path,
) -> None:
    """A mistyped resume_from path must not create directories on the way."""
    missing = tmp_path / "no" / "such" / "checkpoint"
    with pytest.raises(Exception):  # noqa: B017 - any "not found" error
        async with TrainerService(
            buffers={"samples": SequentialBuffer(10)},
            trainers={"t": _NewDataTrainer()},
            resume_from=missing,
        ):
            pass
    assert not (tmp_path / "no").exists(), "resume_from created directories"


class _PickyBuffer(DataBuffer[Any, list[Any]]):
    """A user buffer that rejects one bad item."""

    def __init__(self) -> None:
        super().__init__(max_queue_size=1000)
        self.items: list[Any] = []

    def add(self, data: Any) -> None:
        if data == "bad":
            raise ValueError("bad item")
        self.items.append(data)

    def get_data(self) -> list[Any]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)


def test_update_does_not_lose_the_batch_after_a_failing_add() -> None:
    """One item rejected by buffer.add() loses every later item of the drained
    batch, silently: they are neither stored, pending nor counted as dropped."""
    user = DataUser(_PickyBuffer())
    for x in (1, 2, "bad", 3, 4):
        user.collector.collect(x)
    try:
        user.update()
    except ValueError:
        pass
    user.update()
    s = user.statistics()
    assert s.collected + s.restored == s.pending + s.stored + s.dropped, s


@pytest.mark.parametrize("name", ["../../escape", "a/b", ".."])
async def test_data_user_name_cannot_escape_or_break_the_checkpoint(
    tmp_path: Path, name: str
) -> None:
    """A data user's name is used as a path component of the checkpoint. Names
    with '/' or '..' are accepted, then either write the buffer outside the
    checkpoint (into the store root: the checkpoint is 'complete' without its
    data) or make every save fail. They must be refused up front, by name."""
    state = tmp_path / "state"
    try:
        service = TrainerService(
            buffers={name: SequentialBuffer(5)},
            trainers={"t": _Plain()},
            state_dir=state,
            save_on_shutdown=False,
        )
    except (TypeError, ValueError) as exc:
        assert name in str(exc)
        return
    async with service:
        service.data_collectors.acquire(name).collect(1)
        saved = await service.save_state()
    assert {p.name for p in state.iterdir()} == {saved.name}
    assert (saved / "data").is_dir() and any((saved / "data").iterdir())


class _Plain(Trainer):
    def train(self) -> None:
        pass
