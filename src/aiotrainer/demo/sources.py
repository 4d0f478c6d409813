"""The demo's data source for the daemon: a synthetic stream, as an async source."""

from __future__ import annotations

import math
import time
from typing import Any

import anyio

from ..data.collector import DataCollector
from .components import SyntheticStream

__all__ = ["SyntheticSource"]


class SyntheticSource:
    """Feed ``rate`` samples a second of a :class:`SyntheticStream` to a collector.

    Samples are collected in small batches every ``tick`` seconds, so a fast
    stream does not wake the event loop once per sample. Runs until cancelled.

    :param rate: samples per second, > 0.
    :param dim: features per sample (the model's ``dim``).
    :param noise: the noise's standard deviation.
    :param seed: the random seed.
    :param tick: seconds between batches, > 0.
    :raises ValueError: for a rate or tick that is not a finite number > 0.
    """

    def __init__(
        self,
        rate: float = 2000.0,
        dim: int = 3,
        noise: float = 0.05,
        seed: int = 42,
        tick: float = 0.01,
    ) -> None:
        for name, value in (("rate", rate), ("tick", tick)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number > 0, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.rate, self.tick = float(rate), float(tick)
        self.stream = SyntheticStream(dim=dim, noise=noise, seed=seed)
        self.sent = 0

    def sample(self) -> Any:
        """The next item to collect (a subclass may draw from another stream)."""
        return self.stream.sample()

    async def __call__(self, collector: DataCollector[Any]) -> None:
        """Collect samples at the rate until cancelled."""
        start = time.monotonic()
        while True:
            due = int((time.monotonic() - start) * self.rate)
            for _ in range(due - self.sent):
                collector.collect(self.sample())
            self.sent = max(self.sent, due)
            await anyio.sleep(self.tick)
