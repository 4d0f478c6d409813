"""Components that the daemon tests load by import path (``daemon_parts:Name``).

The subprocesses find this module through ``PYTHONPATH=tests``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from aiotrainer import DataCollector, Trainer
from aiotrainer.demo import LinearModel

__all__ = ["FailingTrainer", "GatedLoadModel", "SlowTrainer", "failing_source"]


class SlowTrainer(Trainer):
    """Always trainable; its run says so on stdout, then blocks for ``seconds``."""

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._never = threading.Event()

    def train(self) -> None:
        print("train started", flush=True)  # noqa: T201 - the test waits for it
        self._never.wait(self.seconds)


class FailingTrainer(Trainer):
    """Always trainable; every run raises."""

    def train(self) -> None:
        raise RuntimeError("this trainer always fails")


async def failing_source(collector: DataCollector[Any]) -> None:
    """Collects one item, then raises."""
    collector.collect(1)
    raise RuntimeError("the source broke")


class GatedLoadModel(LinearModel):
    """A :class:`LinearModel` whose ``load_state`` says so on stdout, then waits
    until a writer opens the FIFO ``gate`` (made by the test)."""

    def __init__(self, gate: str, dim: int = 3) -> None:
        super().__init__(dim)
        self.gate = gate

    def load_state(self, path: Path) -> None:
        print("load_state waiting", flush=True)  # noqa: T201 - the test waits for it
        with open(self.gate, "rb"):  # blocks until the test opens it to write
            pass
        super().load_state(path)
