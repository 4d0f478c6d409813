"""A restore hands the restored weights to the agent before any run."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aiotrainer import SequentialBuffer, StateLoadError, TrainerService
from aiotrainer.demo import LinearModel, LinearRegressionTrainer


def _service(state: Path, model: LinearModel) -> TrainerService:
    return TrainerService(
        models={"linear": model},
        buffers={"samples": SequentialBuffer(100)},
        # waits for 64 samples that never come: no run syncs anything
        trainers={"sgd": LinearRegressionTrainer(batch_size=64)},
        state_dir=state,
        resume_from="latest",
    )


async def test_inference_models_are_synced_on_restore(tmp_path: Path) -> None:
    trained = LinearModel()
    trained.w, trained.b = [1.0, 2.0, 3.0], 0.5
    with anyio.fail_after(10):
        async with _service(tmp_path, trained) as service:
            await service.save_state()
        fresh = LinearModel()
        async with _service(tmp_path, fresh) as service:
            agent = service.inference_models["linear"]
            assert fresh.w == [1.0, 2.0, 3.0]
            # before the fix: 0.0, the untrained agent's answer
            assert agent((1.0, 1.0, 1.0)) == 6.5
            assert service.status().trainers["sgd"].runs == 0


class _BrokenSync(LinearModel):
    def sync_impl(self, inference_model: object) -> None:
        raise RuntimeError("cannot reach the agent")


async def test_a_sync_that_raises_on_restore_names_the_model(tmp_path: Path) -> None:
    with anyio.fail_after(10):
        async with _service(tmp_path, LinearModel()) as service:
            await service.save_state()
        with pytest.raises(
            StateLoadError, match="loading model 'linear' .*cannot reach"
        ):
            async with _service(tmp_path, _BrokenSync()):
                pass
