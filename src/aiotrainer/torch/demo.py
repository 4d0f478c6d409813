"""The torch demo's parts: a small VAE, its trainer and a synthetic image stream.

``examples/torch_demo.py`` runs them in a :class:`~aiotrainer.TrainerService`;
they take only plain arguments so that a config file can name them too.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import nn
from torch.nn import functional as F

from ..demo.sources import SyntheticSource
from .model import TorchTrainingModel
from .trainer import OptimizersSetup, TorchTrainer

__all__ = [
    "SyntheticImageSource",
    "SyntheticImages",
    "TinyVAE",
    "VAETrainer",
    "vae_model",
]


class SyntheticImages:
    """Noisy ``size`` x ``size`` images of one bar or blob each, flattened.

    Each image is one of ``2 * size`` bars (a row or a column) or a Gaussian blob
    at a random place, plus pixel noise: a small world with structure for a VAE
    to find. Seeded and thread-safe.

    :param size: the image side in pixels, >= 4.
    :param noise: the pixel noise's standard deviation, >= 0.
    :param seed: the random seed.
    :raises ValueError: for a bad size or noise.
    """

    def __init__(self, size: int = 8, noise: float = 0.05, seed: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 4:
            raise ValueError(f"size must be an int >= 4, got {size!r}")
        if not isinstance(noise, int | float) or not noise >= 0:
            raise ValueError(f"noise must be a number >= 0, got {noise!r}")
        self.size, self.noise = size, float(noise)
        self._gen = torch.Generator().manual_seed(seed)
        self._lock = threading.Lock()
        axis = torch.arange(size, dtype=torch.float32)
        self._yy, self._xx = torch.meshgrid(axis, axis, indexing="ij")

    @property
    def dim(self) -> int:
        """Pixels per image."""
        return self.size * self.size

    def sample(self) -> torch.Tensor:
        """One image, flattened to ``(size * size,)``, values about in [0, 1]."""
        with self._lock:
            kind, pos, cy, cx = torch.rand(4, generator=self._gen).tolist()
            noise = torch.randn(self.dim, generator=self._gen) * self.noise
        image = torch.zeros(self.size, self.size)
        line = int(pos * self.size)
        if kind < 1 / 3:
            image[line, :] = 1.0
        elif kind < 2 / 3:
            image[:, line] = 1.0
        else:
            cy, cx = cy * (self.size - 1), cx * (self.size - 1)
            sigma2 = 2 * (self.size / 6) ** 2
            image = torch.exp(-((self._yy - cy) ** 2 + (self._xx - cx) ** 2) / sigma2)
        return image.reshape(-1) + noise

    def batch(self, n: int) -> torch.Tensor:
        """``n`` images stacked to ``(n, size * size)``."""
        return torch.stack([self.sample() for _ in range(n)])


class SyntheticImageSource(SyntheticSource):
    """The daemon's source of :class:`SyntheticImages`: ``rate`` images a second.

    :param rate: images per second, > 0.
    :param size: the image side in pixels, >= 4.
    :param noise: the pixel noise's standard deviation.
    :param seed: the random seed.
    :param tick: seconds between batches, > 0.
    :raises ValueError: for a bad rate, tick, size or noise.
    """

    def __init__(
        self,
        rate: float = 2000.0,
        size: int = 8,
        noise: float = 0.05,
        seed: int = 0,
        tick: float = 0.01,
    ) -> None:
        super().__init__(rate=rate, seed=seed, tick=tick)
        self.images = SyntheticImages(size, noise, seed)

    def sample(self) -> torch.Tensor:
        """The next image."""
        return self.images.sample()


class TinyVAE(nn.Module):
    """A variational autoencoder of two small MLPs.

    :param dim: input features (pixels).
    :param hidden: hidden units.
    :param latent: latent dimensions.
    """

    def __init__(self, dim: int = 64, hidden: int = 128, latent: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, dim)
        )

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct ``x`` through a sampled latent: ``(recon, mu, log_var)``."""
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decoder(z), mu, log_var

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` through its mean latent (what the agent uses)."""
        out: torch.Tensor = self.decoder(self.mu(self.encoder(x)))
        return out


def vae_loss(
    x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """Squared error per image plus the KL divergence to the unit Gaussian."""
    error = F.mse_loss(recon, x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / x.shape[0]
    return error + kl


def vae_model(
    dim: int = 64, hidden: int = 128, latent: int = 4, seed: int = 0
) -> TorchTrainingModel[TinyVAE]:
    """A :class:`TinyVAE` as a training model whose agent side reconstructs.

    :param seed: seeds the initial weights.
    """
    torch.manual_seed(seed)
    return TorchTrainingModel(
        TinyVAE(dim, hidden, latent), inference_procedure="reconstruct"
    )


class VAETrainer(TorchTrainer):
    """Adam on the VAE loss over random mini-batches of the buffered images.

    :param data_user: where the images are.
    :param model: the training model's name.
    :param batch_size: images per step; also the new images a run waits for.
    :param steps: optimizer steps per run.
    :param lr: Adam's learning rate.
    :param seed: seeds the mini-batch sampling.
    :param num_threads: torch's intra-op threads, set for the whole process at
        each run's setup: a model this small runs fastest on one, and more only
        contend for the cores with the agent and the event loop; ``None`` leaves
        torch's setting alone.
    """

    def __init__(
        self,
        data_user: str = "images",
        model: str = "vae",
        *,
        batch_size: int = 64,
        steps: int = 8,
        lr: float = 2e-3,
        seed: int = 0,
        num_threads: int | None = 1,
    ) -> None:
        super().__init__(
            data_user, min_buffer_size=batch_size, min_new_data_count=batch_size
        )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        if not isinstance(lr, int | float) or not lr > 0:
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        if num_threads is not None and (
            isinstance(num_threads, bool)
            or not isinstance(num_threads, int)
            or num_threads < 1
        ):
            raise ValueError(
                f"num_threads must be an int >= 1 or None, got {num_threads!r}"
            )
        self.data_user_name, self.model_name = data_user, model
        self.batch_size, self.steps, self.lr = batch_size, steps, float(lr)
        self.num_threads = num_threads
        self.last_loss = self.last_error = math.nan
        self._gen = torch.Generator().manual_seed(seed)

    def on_training_models_attached(self) -> None:
        """Retrieve the VAE (synced after each run)."""
        self.vae = self.get_torch_training_model(self.model_name, TinyVAE)

    def setup(self) -> None:
        """Set torch's threads (see ``num_threads``), then make the optimizer."""
        if self.num_threads is not None and torch.get_num_threads() != self.num_threads:
            torch.set_num_threads(self.num_threads)
        super().setup()

    def create_optimizers(self) -> OptimizersSetup:
        """One Adam over the VAE's parameters."""
        return {"adam": torch.optim.Adam(self.vae.model.parameters(), lr=self.lr)}

    def train(self) -> None:
        """Run ``steps`` Adam steps; keep the mean loss in :attr:`last_loss`."""
        images = torch.stack(self.get_data_user(self.data_user_name).get_data())
        optimizer = self.optimizers["adam"]
        total = 0.0
        for _ in range(self.steps):
            index = torch.randint(len(images), (self.batch_size,), generator=self._gen)
            x = images[index].to(self.vae.device)
            loss = vae_loss(x, *self.vae(x))
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += float(loss.detach())
        self.last_loss = total / self.steps
        with torch.no_grad():
            recon = self.vae.model.reconstruct(x)
            self.last_error = float((recon - x).pow(2).sum(1).mean())
        self.log_metrics({"loss": self.last_loss, "error": self.last_error})
