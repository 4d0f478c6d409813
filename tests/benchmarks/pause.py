"""Pause latency: how long ``await service.pause()`` takes during a long run.

One trainer (no condition: it runs back to back) whose ``train()`` takes 2 s in
10 ms steps, calling ``aiotrainer.pause_point()`` after each. At random moments
(PAUSES times) the loop calls ``await service.pause()``, times it, then resumes.

Figures (ms), on asyncio and uvloop:

- ``pause.<loop>.median``: target <= 20 ms. Baseline: half a step, the expected
  wait for the next pause point (a 10 ms step is the floor's upper bound).
- ``pause.<loop>.max``: the worst of the PAUSES pauses, against one step.
"""

from __future__ import annotations

import random
import time
from functools import partial

import anyio

from aiotrainer import SequentialBuffer, Trainer, TrainerService, pause_point

from ._common import LOOPS, NullModel, median, note, report, run_on

STEP = 0.010
STEPS = 200
PAUSES = 15
TARGET_MS = 20.0


class SteppingTrainer(Trainer):
    """A 2 s train() in 10 ms steps with a pause point after each."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False
        self.runs = 0

    def on_training_models_attached(self) -> None:
        self.get_training_model("model")

    def train(self) -> None:
        for _ in range(STEPS):
            if self.stopping:
                return
            time.sleep(STEP)
            pause_point()
        self.runs += 1


async def pause_times(seed: int) -> list[float]:
    rng = random.Random(seed)
    trainer = SteppingTrainer()
    out: list[float] = []
    async with TrainerService(
        models={"model": NullModel()},
        buffers={"data": SequentialBuffer[int](16)},
        trainers={"stepper": trainer},
    ) as service:
        for _ in range(PAUSES):
            await anyio.sleep(rng.uniform(0.05, 0.5))
            t0 = time.perf_counter()
            await service.pause()
            out.append((time.perf_counter() - t0) * 1e3)
            await service.resume()
        trainer.stopping = True
    return out


def main() -> None:
    note(
        f"{PAUSES} pauses at random moments, train() = {STEPS} steps of "
        f"{STEP * 1e3:g} ms with a pause point after each"
    )
    for i, loop in enumerate(LOOPS):
        times = run_on(loop, partial(pause_times, i))
        med = median(times)
        report(
            f"pause.{loop}.median",
            med,
            "ms",
            baseline=("half_step", STEP * 1e3 / 2, "ms"),
            target=f"<= {TARGET_MS:g} ms",
            ok=med <= TARGET_MS,
        )
        report(
            f"pause.{loop}.max",
            max(times),
            "ms",
            baseline=("one_step", STEP * 1e3, "ms"),
        )


if __name__ == "__main__":
    main()
