"""The torch demo's parts, and aiotrainer.torch's public names."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch.nn", reason="the torch extra is not installed")
import torch

import aiotrainer.torch
from aiotrainer.torch.demo import (
    SyntheticImages,
    SyntheticImageSource,
    TinyVAE,
    VAETrainer,
    vae_model,
)

PAMIQ_NAMES = {
    "TorchTrainingModel",
    "TorchInferenceModel",
    "TorchTrainer",
    "get_device",
    "default_infer_procedure",
    "OptimizersDict",
    "LRSchedulersDict",
    "OptimizersSetup",
    "StateDict",
}


def test_public_names_cover_pamiq_core_torch() -> None:
    names = aiotrainer.torch.__all__
    assert names == sorted(names)
    assert set(names) >= PAMIQ_NAMES
    for name in names:
        assert hasattr(aiotrainer.torch, name), name


class TestSyntheticImages:
    def test_images_are_seeded_flat_and_bounded(self) -> None:
        a, b = SyntheticImages(size=6, seed=5), SyntheticImages(size=6, seed=5)
        batch = a.batch(50)
        assert batch.shape == (50, 36) and a.dim == 36
        assert torch.equal(batch, b.batch(50))
        assert float(batch.max()) < 1.5 and float(batch.min()) > -0.5
        clean = SyntheticImages(size=6, noise=0.0, seed=1).batch(20)
        assert bool((clean.max(dim=1).values > 0.5).all())  # every image has a shape

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"size": 3}, "size must be an int >= 4, got 3"),
            ({"size": True}, "size must be an int >= 4, got True"),
            ({"noise": -0.1}, "noise must be a number >= 0, got -0.1"),
            ({"noise": "x"}, "noise must be a number >= 0, got 'x'"),
        ],
        ids=["small", "bool", "negative-noise", "str-noise"],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            SyntheticImages(**kwargs)


class TestVAE:
    def test_model_reconstructs_through_the_agent(self) -> None:
        model = vae_model(dim=16, hidden=8, latent=2)
        assert isinstance(model.model, TinyVAE)
        out = model.inference_model(torch.zeros(3, 16))
        assert out.shape == (3, 16)
        recon, mu, log_var = model(torch.zeros(3, 16))
        assert recon.shape == (3, 16) and mu.shape == log_var.shape == (3, 2)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"steps": 0}, ValueError, "steps must be an int >= 1, got 0"),
            ({"lr": 0}, ValueError, "lr must be a number > 0, got 0"),
            ({"batch_size": -1}, ValueError, "min_buffer_size"),
            ({"num_threads": 0}, ValueError, "num_threads must be an int >= 1 or None"),
        ],
        ids=["steps", "lr", "batch", "threads"],
    )
    def test_trainer_refuses(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            VAETrainer(**kwargs)


def test_image_source_draws_images_and_checks_its_rate() -> None:
    source = SyntheticImageSource(rate=100, size=5, seed=3)
    assert torch.equal(source.sample(), SyntheticImages(size=5, seed=3).sample())
    with pytest.raises(ValueError, match="rate must be a finite number > 0, got 0"):
        SyntheticImageSource(rate=0)
    with pytest.raises(ValueError, match="size must be an int >= 4, got 2"):
        SyntheticImageSource(size=2)
