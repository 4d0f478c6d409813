"""Edge cases of service checkpoints: frozen models, accounting after restore."""

from __future__ import annotations

from pathlib import Path

from aiotrainer import DataUser, SequentialBuffer, TrainerService
from aiotrainer.demo import LinearModel, LinearRegressionTrainer


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
