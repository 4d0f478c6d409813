"""Dispatch overhead: how many no-op runs per second the service sustains.

Figures (runs/s, median of REPEATS windows of WINDOW seconds, interleaved):

- ``dispatch.fast_producer``: a no-op ``train()`` with ``min_new_data_count=1``
  while a producer thread collects in a tight loop. Baseline: a bare loop of
  ``await anyio.to_thread.run_sync(noop)`` with the same producer thread running
  (both compete with it for the GIL).
- ``dispatch.fast_producer_vs_idle_loop``: the same, against the bare loop with no
  producer: what the GIL-bound producer costs on top.
- ``dispatch.fast_producer.switch_0.5ms``: the same with
  ``sys.setswitchinterval(0.0005)`` (default 5 ms), against the default: a
  producer that never blocks holds the GIL until the interpreter forces a switch,
  so each hand-off between the loop, the worker and the producer waits for it.
- ``dispatch.always_trainable``: a no-op trainer with no condition (always
  trainable, no producer), against the bare loop with no producer: the pure
  scheduler + executor overhead per run.
- ``dispatch.always_trainable.queue_executor``: the same with the prototype
  ``_handoff.QueueExecutor``, against the service as shipped.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from functools import partial
from typing import Self

import anyio
import anyio.to_thread

from aiotrainer import SequentialBuffer, Trainer, TrainerService

from ._common import NullModel, median, note, report, run_on
from ._handoff import QueueExecutor

WINDOW = 2.0
REPEATS = 3
WARMUP = 0.2
LOOP = "asyncio"


class NoopTrainer(Trainer):
    """Counts its runs, does nothing else."""

    def __init__(self, data: str | None) -> None:
        super().__init__(data, min_new_data_count=1 if data else 0)
        self.runs = 0

    def on_training_models_attached(self) -> None:
        self.get_training_model("model")

    def train(self) -> None:
        self.runs += 1


class Producer:
    """A thread that collects as fast as it can until stopped."""

    def __init__(self, collect: Callable[[object], None]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(collect,), name="bench-producer"
        )
        self.items = 0

    def _run(self, collect: Callable[[object], None]) -> None:
        stopped = self._stop.is_set
        n = 0
        while not stopped():
            for _ in range(100):
                collect(n)
            n += 100
        self.items = n

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def service_rate(
    *, producer: bool, queue: bool = False, switch: float | None = None
) -> float:
    trainer = NoopTrainer("data" if producer else None)
    executor = QueueExecutor() if queue else None
    default_switch = sys.getswitchinterval()
    if switch is not None:
        sys.setswitchinterval(switch)
    try:
        async with TrainerService(
            models={"model": NullModel()},
            buffers={"data": SequentialBuffer[int](1024)},
            trainers={"noop": trainer},
            executor=executor,
        ) as service:
            collect = service.data_collectors.acquire("data").collect
            with Producer(collect) if producer else nullcontext():
                await anyio.sleep(WARMUP)
                r0, t0 = trainer.runs, time.perf_counter()
                await anyio.sleep(WINDOW)
                r1, t1 = trainer.runs, time.perf_counter()
    finally:
        sys.setswitchinterval(default_switch)
        if executor is not None:
            executor.close()
    return (r1 - r0) / (t1 - t0)


def _noop() -> None:
    pass


async def bare_rate(*, producer: bool) -> float:
    sink: list[object] = []
    runs = 0
    with Producer(sink.append) if producer else nullcontext():
        deadline = time.perf_counter() + WARMUP
        while time.perf_counter() < deadline:
            await anyio.to_thread.run_sync(_noop)
        t0 = time.perf_counter()
        deadline = t0 + WINDOW
        while time.perf_counter() < deadline:
            await anyio.to_thread.run_sync(_noop)
            runs += 1
        t1 = time.perf_counter()
    return runs / (t1 - t0)


def main() -> None:
    configs: dict[str, Callable[[], Awaitable[float]]] = {
        "svc.producer": partial(service_rate, producer=True),
        "svc.producer.switch": partial(service_rate, producer=True, switch=0.0005),
        "bare.producer": partial(bare_rate, producer=True),
        "svc.always": partial(service_rate, producer=False),
        "svc.always.queue": partial(service_rate, producer=False, queue=True),
        "bare.idle": partial(bare_rate, producer=False),
    }
    rates: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(REPEATS):
        for key, measure in configs.items():
            rates[key].append(run_on(LOOP, measure))
    r = {k: median(v) for k, v in rates.items()}
    note(f"{LOOP}, median of {REPEATS} windows of {WINDOW:g} s; each window:")
    for key, values in rates.items():
        note(f"  {key}: {', '.join(f'{v:,.0f}' for v in values)} runs/s")
    report(
        "dispatch.fast_producer",
        r["svc.producer"],
        "runs/s",
        baseline=("bare_to_thread_loop+producer", r["bare.producer"], "runs/s"),
    )
    report(
        "dispatch.fast_producer_vs_idle_loop",
        r["svc.producer"],
        "runs/s",
        baseline=("bare_to_thread_loop", r["bare.idle"], "runs/s"),
    )
    report(
        "dispatch.fast_producer.switch_0.5ms",
        r["svc.producer.switch"],
        "runs/s",
        baseline=("switch_5ms", r["svc.producer"], "runs/s"),
    )
    report(
        "dispatch.always_trainable",
        r["svc.always"],
        "runs/s",
        baseline=("bare_to_thread_loop", r["bare.idle"], "runs/s"),
    )
    report(
        "dispatch.always_trainable.queue_executor",
        r["svc.always.queue"],
        "runs/s",
        baseline=("service_as_shipped", r["svc.always"], "runs/s"),
    )


if __name__ == "__main__":
    main()
