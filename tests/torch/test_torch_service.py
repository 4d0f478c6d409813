"""Torch models and trainers in a running TrainerService; the torch demo."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

pytest.importorskip("torch.nn", reason="the torch extra is not installed")
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from aiotrainer import RandomReplacementBuffer, SequentialBuffer, TrainerService
from aiotrainer.torch import (
    OptimizersSetup,
    TorchTrainer,
    TorchTrainingModel,
    get_device,
)
from aiotrainer.torch.demo import SyntheticImages, TinyVAE, VAETrainer, vae_model


def make_service(state_dir: Path, seed: int, **kwargs: object) -> TrainerService:
    return TrainerService(
        models={"vae": vae_model(seed=seed)},
        buffers={"images": SequentialBuffer(1000)},
        trainers={"vae": VAETrainer(batch_size=32, steps=2)},
        state_dir=state_dir,
        **kwargs,  # type: ignore[arg-type]
    )


async def wait_runs(service: TrainerService, n: int) -> None:
    async with service.events() as events:
        with anyio.fail_after(30):
            if service.status().trainers["vae"].runs >= n:
                return
            async for _ in events:
                if service.status().trainers["vae"].runs >= n:
                    return


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def vae_trainer(service: TrainerService) -> VAETrainer:
    trainer = service.trainers["vae"]
    assert isinstance(trainer, VAETrainer)
    return trainer


async def test_checkpoint_resumes_with_inference_synced(tmp_path: Path) -> None:
    images = SyntheticImages(seed=3)
    service = make_service(tmp_path, seed=0, save_on_shutdown=False)
    async with service:
        collector = service.data_collectors.acquire("images")
        for run in range(1, 4):  # a run per 32 new images
            for _ in range(32):
                collector.collect(images.sample())
            await wait_runs(service, run)
        await service.pause()
        await service.save_state()
        trained = params(vae_trainer(service).vae.model)
        runs = service.status().trainers["vae"].runs
        adam = vae_trainer(service).optimizer_states["adam"]

    again = make_service(tmp_path, seed=1, resume_from="latest", save_on_shutdown=False)
    trainer = vae_trainer(again)
    fresh = params(trainer.vae.model)
    assert not all(torch.equal(a, b) for a, b in zip(fresh, trained, strict=True))
    async with again:
        assert again.status().trainers["vae"].runs == runs  # none since the restore
        restored = params(trainer.vae.model)
        with again.inference_models["vae"].unwrap() as agent:  # type: ignore[attr-defined]
            assert isinstance(agent, TinyVAE)
            seen = params(agent)
        for a, b, c in zip(trained, restored, seen, strict=True):
            assert torch.equal(a, b) and torch.equal(a, c)
        kept = trainer.optimizer_states["adam"]
        assert kept["state"][0]["step"] == adam["state"][0]["step"] >= 6
        for key, value in adam["state"][0].items():
            assert torch.equal(
                torch.as_tensor(kept["state"][0][key]), torch.as_tensor(value)
            )
        collector = again.data_collectors.acquire("images")
        for _ in range(64):
            collector.collect(images.sample())
        await wait_runs(again, runs + 1)  # and training goes on from there


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        h = self.net(x)
        return torch.distributions.Normal(h[..., :4], h[..., 4:].exp())


class PamiqStyleTrainer(TorchTrainer):
    """Written the way pamiq-core's VAE sample writes its trainer: two models, one
    optimizer over both, a DataLoader over the buffered data."""

    def __init__(self) -> None:
        super().__init__("observation", min_buffer_size=32, min_new_data_count=32)

    def on_training_models_attached(self) -> None:
        super().on_training_models_attached()
        self.encoder = self.get_torch_training_model("encoder", Encoder)
        self.decoder = self.get_torch_training_model("decoder", nn.Linear)

    def on_data_users_attached(self) -> None:
        super().on_data_users_attached()
        self.data_user = self.get_data_user("observation")

    def create_optimizers(self) -> OptimizersSetup:
        params = itertools.chain(
            self.encoder.model.parameters(), self.decoder.model.parameters()
        )
        return {"optimizer": torch.optim.Adam(params, lr=1e-2)}

    def train(self) -> None:
        dataset = TensorDataset(torch.stack(list(self.data_user.get_data())))
        device = get_device(self.encoder.model)
        for (batch,) in DataLoader(dataset, batch_size=16, shuffle=True):
            batch = batch.to(device)
            recon = self.decoder(self.encoder(batch).rsample())
            loss = (recon - batch).pow(2).sum(-1).mean()
            self.optimizers["optimizer"].zero_grad()
            loss.backward()
            self.optimizers["optimizer"].step()


async def test_a_pamiq_core_style_trainer_runs_unchanged() -> None:
    images = SyntheticImages(seed=4)
    service = TrainerService(
        models={
            "encoder": TorchTrainingModel(Encoder(), inference_procedure="forward"),
            "decoder": TorchTrainingModel(nn.Linear(4, 64)),
        },
        buffers={"observation": RandomReplacementBuffer(256)},
        trainers={"vae": PamiqStyleTrainer()},
    )
    async with service:
        collector = service.data_collectors.acquire("observation")
        for run in range(1, 3):
            for _ in range(32):
                collector.collect(images.sample())
            await wait_runs(service, run)
        await service.pause()
        x = images.batch(4)
        encoded = service.inference_models["encoder"](x)
        assert isinstance(encoded, torch.distributions.Normal)
        trainer = service.trainers["vae"]
        assert isinstance(trainer, PamiqStyleTrainer)
        with torch.no_grad():  # both models were synced after the last run
            assert torch.equal(encoded.mean, trainer.encoder(x).mean)
            z = torch.zeros(1, 4)
            assert torch.equal(
                service.inference_models["decoder"](z), trainer.decoder(z)
            )
        assert trainer.optimizer_states["optimizer"]["state"][0]["step"] > 0
