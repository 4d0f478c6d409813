"""Parallelism: trainers that release the GIL run side by side.

Four trainers, each with its own model and buffer and no condition (always
trainable), whose ``train()`` is ``time.sleep(STEP)`` (it releases the GIL, as
a torch step mostly does). Figures (runs/s over WINDOW seconds, median of
REPEATS, interleaved):

- ``parallel.max_workers_4``: with ``max_workers=4``, against ``max_workers=1``
  measured in the same run. Target: ratio >= 3.5 (4.0 is perfect).
- ``parallel.max_workers_4.efficiency``: runs/s over the ideal ``4 / STEP``.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import anyio

from aiotrainer import SequentialBuffer, Trainer, TrainerService

from ._common import NullModel, median, note, report, run_on

TRAINERS = 4
STEP = 0.05
WINDOW = 2.0
WARMUP = 0.3
REPEATS = 3
TARGET = 3.5


class SleepTrainer(Trainer):
    """Sleeps STEP seconds per run, outside the GIL."""

    runs_lock = threading.Lock()

    def __init__(self, model: str, finished: list[float]) -> None:
        super().__init__()
        self._model = model
        self._finished = finished

    def on_training_models_attached(self) -> None:
        self.get_training_model(self._model)

    def train(self) -> None:
        time.sleep(STEP)
        with self.runs_lock:
            self._finished.append(time.perf_counter())


async def rate(max_workers: int) -> float:
    finished: list[float] = []
    names = [f"m{i}" for i in range(TRAINERS)]
    async with TrainerService(
        models={n: NullModel() for n in names},
        buffers={f"b{i}": SequentialBuffer[int](16) for i in range(TRAINERS)},
        trainers={f"t{i}": SleepTrainer(n, finished) for i, n in enumerate(names)},
        max_workers=max_workers,
    ):
        await anyio.sleep(WARMUP)
        t0 = time.perf_counter()
        await anyio.sleep(WINDOW)
        t1 = time.perf_counter()
    return sum(t0 <= t < t1 for t in finished) / (t1 - t0)


def main() -> None:
    rates: dict[int, list[float]] = {1: [], 4: []}
    for _ in range(REPEATS):
        for workers, values in rates.items():
            values.append(run_on("asyncio", partial(rate, workers)))
    one, four = median(rates[1]), median(rates[4])
    note(
        f"{TRAINERS} trainers, train() = time.sleep({STEP:g}), "
        f"median of {REPEATS} windows of {WINDOW:g} s"
    )
    report(
        "parallel.max_workers_4",
        four,
        "runs/s",
        baseline=("max_workers_1", one, "runs/s"),
        target=f"ratio >= {TARGET}",
        ok=four / one >= TARGET,
    )
    report(
        "parallel.max_workers_4.efficiency",
        100 * four * STEP / TRAINERS,
        "% of ideal",
    )


if __name__ == "__main__":
    main()
