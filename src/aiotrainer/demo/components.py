"""Pure-Python parts of the demo: a linear model, its trainer and a data source."""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.user import DataUser
from ..model.interface import InferenceModel, TrainingModel
from ..trainer.base import Trainer
from ..trainer.conditions import Condition

__all__ = [
    "LinearInference",
    "LinearModel",
    "LinearRegressionTrainer",
    "SyntheticStream",
]

Sample = tuple[tuple[float, ...], float]


class LinearInference(InferenceModel):
    """``y = w·x + b``, the agent's copy; swapped atomically on sync."""

    def __init__(self, dim: int) -> None:
        self._params: tuple[tuple[float, ...], float] = ((0.0,) * dim, 0.0)

    def infer(self, x: Sequence[float]) -> float:
        """Predict ``y`` for the features ``x``."""
        w, b = self._params  # one read: a consistent pair even during a sync
        return sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b

    def set_params(self, w: Sequence[float], b: float) -> None:
        """Replace the parameters (one atomic assignment)."""
        self._params = (tuple(w), float(b))


class LinearModel(TrainingModel[LinearInference]):
    """The trained linear model.

    :param dim: the number of features, >= 1.
    """

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an int >= 1, got {dim!r}")
        self.dim = dim
        self.w = [0.0] * dim
        self.b = 0.0

    def _create_inference_model(self) -> LinearInference:
        return LinearInference(self.dim)

    def forward(self, x: Sequence[float]) -> float:
        """Predict ``y`` with the current (training) parameters."""
        return sum(wi * xi for wi, xi in zip(self.w, x, strict=True)) + self.b

    def sync_impl(self, inference_model: LinearInference) -> None:
        """Copy the parameters to the agent's model."""
        inference_model.set_params(self.w, self.b)

    def save_state(self, path: Path) -> None:
        """Write the parameters as JSON."""
        path.with_suffix(".json").write_text(json.dumps({"w": self.w, "b": self.b}))

    def load_state(self, path: Path) -> None:
        """Read the parameters back.

        :raises ValueError: when they have another ``dim``.
        """
        params = json.loads(path.with_suffix(".json").read_text())
        if len(params["w"]) != self.dim:
            raise ValueError(
                f"the checkpoint's model has dim={len(params['w'])}; "
                f"expected dim={self.dim}"
            )
        self.w, self.b = [float(v) for v in params["w"]], float(params["b"])


class LinearRegressionTrainer(Trainer):
    """SGD on mean squared error over mini-batches of the newest samples.

    :param data_user: where the samples are.
    :param model: the model's name.
    :param batch_size: samples per run; also the new samples a run waits for.
    :param steps: SGD steps per run.
    :param lr: the learning rate.
    """

    def __init__(
        self,
        data_user: str = "samples",
        model: str = "linear",
        *,
        batch_size: int = 32,
        steps: int = 20,
        lr: float = 0.05,
        condition: Condition | None = None,
    ) -> None:
        for name, count in (("batch_size", batch_size), ("steps", steps)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{name} must be an int >= 1, got {count!r}")
        if (
            isinstance(lr, bool)
            or not isinstance(lr, int | float)
            or not math.isfinite(lr)
            or lr <= 0
        ):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        super().__init__(
            data_user,
            min_buffer_size=batch_size,
            min_new_data_count=batch_size,
            condition=condition,
        )
        self.data_user_name, self.model_name = data_user, model
        self.batch_size, self.steps, self.lr = batch_size, steps, lr
        self.last_loss = math.nan
        self._rng = random.Random(0)

    def on_training_models_attached(self) -> None:
        """Retrieve the model (so that it is synced after each run)."""
        model = self.get_training_model(self.model_name)
        assert isinstance(model, LinearModel)
        self.model = model

    def on_data_users_attached(self) -> None:
        """Keep the data user."""
        self.samples: DataUser[Any] = self.get_data_user(self.data_user_name)

    def train(self) -> None:
        """Run ``steps`` SGD steps on random mini-batches."""
        data: list[Sample] = self.samples.get_data()
        m = self.model
        loss = 0.0
        for _ in range(self.steps):
            batch = self._rng.sample(data, min(self.batch_size, len(data)))
            gw = [0.0] * m.dim
            gb = loss = 0.0
            for x, y in batch:
                err = m.forward(x) - y
                loss += err * err
                for i, xi in enumerate(x):
                    gw[i] += err * xi
                gb += err
            n = len(batch)
            m.w = [w - self.lr * 2 * g / n for w, g in zip(m.w, gw, strict=True)]
            m.b -= self.lr * 2 * gb / n
            loss /= n
        self.last_loss = loss
        self.log_metrics({"loss": loss})  # status(), events, /metrics, progress


class SyntheticStream:
    """Samples of ``y = w_true·x + b_true + noise`` (seeded, reproducible).

    :param dim: features per sample.
    :param noise: the noise's standard deviation.
    :param seed: the random seed.
    """

    def __init__(self, dim: int = 3, noise: float = 0.05, seed: int = 42) -> None:
        self._rng = random.Random(seed)
        self.w_true = [self._rng.uniform(-2, 2) for _ in range(dim)]
        self.b_true = self._rng.uniform(-1, 1)
        self.noise = noise
        self._lock = threading.Lock()

    def sample(self) -> Sample:
        """One ``(x, y)`` pair."""
        with self._lock:
            x = tuple(self._rng.gauss(0, 1) for _ in self.w_true)
            eps = self._rng.gauss(0, self.noise)
        y = sum(w * xi for w, xi in zip(self.w_true, x, strict=True)) + self.b_true
        return x, y + eps

    def mse(self, model: InferenceModel, n: int = 200) -> float:
        """Mean squared error of ``model`` on ``n`` fresh samples."""
        total = 0.0
        for _ in range(n):
            x, y = self.sample()
            total += (model(x) - y) ** 2
        return total / n
