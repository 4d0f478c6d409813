"""Components that the daemon tests load by import path (``daemon_parts:Name``).

The subprocesses find this module through ``PYTHONPATH=tests``.
"""

from __future__ import annotations

import threading
from typing import Any

from aiotrainer import DataCollector, Trainer

__all__ = ["FailingTrainer", "SlowTrainer", "failing_source"]


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
