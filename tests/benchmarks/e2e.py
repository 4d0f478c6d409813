"""The end-to-end learning loop under the GIL, against a hand-written threaded loop.

The workload, the same on both sides:

- a producer thread collects 1-KB numpy arrays (256 float32) as fast as it can
  into a buffer of the last 10,000 items;
- one trainer, woken every 256 new items, whose ``train()`` takes a random batch
  of 256 stored items and does about 2 ms of numpy matmul, then syncs its weights
  into the inference model;
- a reader thread calls the inference model at 1 kHz (a sleep of 1 ms between
  calls) and times each call.

The aiotrainer side is a ``TrainerService`` (``SequentialBuffer(10_000)``, a
trainer with ``min_new_data_count=256``) on uvloop. The baseline is a minimal
hand-written threaded loop: the producer appends to a ``deque(maxlen=10_000)``
and notifies a ``threading.Condition`` every 256 items, on which a trainer thread
waits and then runs the same ``train()``; it skips the collector queue altogether.
Each side runs SECONDS (default 10, env ``E2E_SECONDS``), interleaved, REPEATS
times (env ``E2E_REPEATS``); figures are medians of the repeats:

- ``e2e.runs_per_s``: trained runs/s. Target: ratio >= 0.9.
- ``e2e.infer_p99``: the p99 of an inference call's duration. Target: no worse
  than the baseline's (ratio <= 1.0; on a loaded machine read it with the p99s of
  the repeats, printed as notes).
- ``e2e.items_per_s``, ``e2e.cpu``: collected items/s and the process's CPU (% of
  one core), for context.

The same figures follow with ``sys.setswitchinterval(0.0005)`` (``.switch_0.5ms``),
both sides under it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

# One BLAS thread: on a small shared machine a pool of them only thrashes.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

from aiotrainer import (
    InferenceModel,
    SequentialBuffer,
    Trainer,
    TrainerService,
    TrainingModel,
)

from ._common import cpu_percent, median, note, percentile, report, run_on, settle

SECONDS = float(os.environ.get("E2E_SECONDS", "10"))
REPEATS = int(os.environ.get("E2E_REPEATS", "3"))
BUFFER = 10_000
BATCH = 256
NEW_ITEMS = 256
DIM = 256  # 256 float32 = 1 KB per item
MATMULS = int(os.environ.get("E2E_MATMULS", "2"))
READ_PERIOD = 0.001
TARGET_RUNS = 0.9
TARGET_P99 = 1.0


# -- the shared workload ----------------------------------------------------------


class Inference(InferenceModel):
    """``x @ w`` with the weights last synced."""

    def __init__(self) -> None:
        self.weights = np.zeros((DIM, DIM), dtype=np.float32)

    def infer(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return x @ self.weights


class Model(TrainingModel[Inference]):
    """A weight matrix; sync copies it into the inference model."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = np.eye(DIM, dtype=np.float32)

    def _create_inference_model(self) -> Inference:
        return Inference()

    def forward(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return x @ self.weights

    def sync_impl(self, inference_model: Inference) -> None:
        inference_model.weights = self.weights.copy()


def train_step(
    items: Sequence[np.ndarray[Any, Any]], model: Model, rng: np.random.Generator
) -> None:
    """A random batch of BATCH items, then about 2 ms of matmul on it."""
    picks = rng.integers(0, len(items), BATCH)
    batch = np.stack([items[i] for i in picks])
    w = model.weights
    for _ in range(MATMULS):
        out = batch @ w
        w = w + 1e-6 * (batch.T @ out) / BATCH
        w /= np.abs(w).max()
    model.weights = w


def make_items() -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(DIM).astype(np.float32) for _ in range(64)]


class Reader:
    """Calls ``infer`` every READ_PERIOD seconds; records each call's duration."""

    def __init__(self, infer: Callable[[np.ndarray[Any, Any]], Any]) -> None:
        self._infer = infer
        self.stop = threading.Event()
        self.durations: list[float] = []
        self._thread = threading.Thread(target=self._run, name="e2e-reader")

    def _run(self) -> None:
        x = np.ones((1, DIM), dtype=np.float32)
        out = self.durations
        infer = self._infer
        while not self.stop.wait(READ_PERIOD):
            t0 = time.perf_counter()
            infer(x)
            out.append(time.perf_counter() - t0)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join()


@dataclass
class Result:
    runs_per_s: float
    infer_p99_us: float
    items_per_s: float
    cpu: float


def _window(
    produce: Callable[[threading.Event], int],
    infer: Callable[[np.ndarray[Any, Any]], Any],
    runs: Callable[[], int],
) -> Result:
    """Run producer and reader for SECONDS; measure runs, items, CPU, p99."""
    stop = threading.Event()
    produced = [0]

    def producer() -> None:
        produced[0] = produce(stop)

    reader = Reader(infer)
    thread = threading.Thread(target=producer, name="e2e-producer")
    cpu0, t0, runs0 = time.process_time(), time.perf_counter(), runs()
    thread.start()
    reader.start()
    time.sleep(SECONDS)
    stop.set()
    runs1, t1, cpu1 = runs(), time.perf_counter(), time.process_time()
    thread.join()
    reader.join()
    wall = t1 - t0
    return Result(
        runs_per_s=(runs1 - runs0) / wall,
        infer_p99_us=percentile(reader.durations, 99) * 1e6,
        items_per_s=produced[0] / wall,
        cpu=cpu_percent(cpu1 - cpu0, wall),
    )


# -- aiotrainer ---------------------------------------------------------------


class LoopTrainer(Trainer):
    """The workload's trainer on aiotrainer."""

    def __init__(self) -> None:
        super().__init__("data", min_new_data_count=NEW_ITEMS)
        self.runs = 0
        self._rng = np.random.default_rng(1)

    def on_training_models_attached(self) -> None:
        self.model: Model = self.get_training_model("model")  # type: ignore[assignment]

    def on_data_users_attached(self) -> None:
        self.user = self.get_data_user("data")

    def train(self) -> None:
        train_step(self.user.get_data(), self.model, self._rng)
        self.runs += 1


async def aiotrainer_window() -> Result:
    trainer = LoopTrainer()
    model = Model()
    items = make_items()
    async with TrainerService(
        models={"model": model},
        buffers={"data": SequentialBuffer[np.ndarray[Any, Any]](BUFFER)},
        trainers={"trainer": trainer},
    ) as service:
        collect = service.data_collectors.acquire("data").collect
        infer = model.inference_model

        def produce(stop: threading.Event) -> int:
            n = 0
            k = len(items)
            while not stop.is_set():
                for item in items:
                    collect(item)
                n += k
            return n

        return await anyio.to_thread.run_sync(
            _window, produce, infer, lambda: trainer.runs
        )


# -- the hand-written threaded baseline -------------------------------------------


def baseline_window() -> Result:
    model = Model()
    infer = model.inference_model
    items = make_items()
    store: deque[np.ndarray[Any, Any]] = deque(maxlen=BUFFER)
    cond = threading.Condition()
    state = {"new": 0, "runs": 0, "stop": False}
    rng = np.random.default_rng(1)

    def trainer() -> None:
        while True:
            with cond:
                while state["new"] < NEW_ITEMS and not state["stop"]:
                    cond.wait()
                if state["stop"]:
                    return
                state["new"] = 0
            train_step(list(store), model, rng)
            model.sync()
            state["runs"] += 1

    def produce(stop: threading.Event) -> int:
        n = 0
        append = store.append
        since = 0
        while not stop.is_set():
            for item in items:
                append(item)
            n += len(items)
            since += len(items)
            if since >= NEW_ITEMS:
                with cond:
                    state["new"] += since
                    cond.notify()
                since = 0
        return n

    thread = threading.Thread(target=trainer, name="e2e-baseline-trainer")
    thread.start()
    try:
        return _window(produce, infer, lambda: state["runs"])
    finally:
        with cond:
            state["stop"] = True
            cond.notify()
        thread.join()


# -- main --------------------------------------------------------------------------


def measure(tag: str) -> None:
    ours: list[Result] = []
    base: list[Result] = []
    for _ in range(REPEATS):
        settle()
        base.append(baseline_window())
        settle()
        ours.append(run_on("uvloop", aiotrainer_window))

    def med(results: list[Result], field: str) -> float:
        return median([getattr(r, field) for r in results])

    note(
        f"{tag or 'default switch interval'}: {REPEATS} x {SECONDS:g} s per side; "
        "runs/s aiotrainer "
        + ", ".join(f"{r.runs_per_s:.1f}" for r in ours)
        + " / baseline "
        + ", ".join(f"{r.runs_per_s:.1f}" for r in base)
        + "; p99 µs aiotrainer "
        + ", ".join(f"{r.infer_p99_us:.0f}" for r in ours)
        + " / baseline "
        + ", ".join(f"{r.infer_p99_us:.0f}" for r in base)
    )
    runs, base_runs = med(ours, "runs_per_s"), med(base, "runs_per_s")
    report(
        f"e2e.runs_per_s{tag}",
        runs,
        "runs/s",
        baseline=("threaded_loop", base_runs, "runs/s"),
        target=f"ratio >= {TARGET_RUNS}",
        ok=runs >= TARGET_RUNS * base_runs,
    )
    p99, base_p99 = med(ours, "infer_p99_us"), med(base, "infer_p99_us")
    report(
        f"e2e.infer_p99{tag}",
        p99,
        "µs",
        baseline=("threaded_loop", base_p99, "µs"),
        target=f"ratio <= {TARGET_P99}",
        ok=p99 <= TARGET_P99 * base_p99,
    )
    report(
        f"e2e.items_per_s{tag}",
        med(ours, "items_per_s"),
        "items/s",
        baseline=("threaded_loop", med(base, "items_per_s"), "items/s"),
    )
    report(
        f"e2e.cpu{tag}",
        med(ours, "cpu"),
        "% of a core",
        baseline=("threaded_loop", med(base, "cpu"), "% of a core"),
    )


def main() -> None:
    note(
        f"producer: 1-KB arrays as fast as it can; trainer every {NEW_ITEMS} items, "
        f"batch {BATCH}, {MATMULS} matmul steps; reader at "
        f"{1 / READ_PERIOD:g} Hz; {os.cpu_count()} CPUs"
    )
    measure("")
    default = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        measure(".switch_0.5ms")
    finally:
        sys.setswitchinterval(default)


if __name__ == "__main__":
    main()
