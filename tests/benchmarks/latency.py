"""Wake-up latency: ``collect()`` in a producer thread -> ``train()`` starting.

A producer thread stamps ``time.perf_counter()`` just before ``collect(i)``; the
trainer (``min_new_data_count=1``) stamps it first thing in ``train()``. After
each item the producer waits for the stamp, then sleeps 1-2 ms so that every item
is a separate wake-up of an idle service. SAMPLES samples per configuration,
gathered in ROUNDS interleaved rounds, on asyncio and on uvloop.

Figures (µs):

- ``latency.<loop>.p50``: the service's median, against the minimal path: a bare
  ``loop.call_soon_threadsafe`` wake of the loop (an event a task waits on) plus
  one ``anyio.to_thread.run_sync`` hand-off of a function that stamps. Target:
  ratio <= 1.3.
- ``latency.<loop>.p50_vs_lean``: the same median against the lean two-hop
  path: ``call_soon_threadsafe`` wakes a task, which hands off to a worker
  thread with one ``SimpleQueue.put`` (the ``minimal_queue_path`` below).
  Target: ratio <= 1.2. ``.p99_vs_lean``: the p99s of the two, for context.
  With the default ``linger`` the worker waits in place after each run, so the
  next item wakes it directly (one thread hop); items more than ``linger``
  apart take the path through the loop, measured as
  ``latency.<loop>.no_linger.p50_vs_lean`` (``linger=0``), for context.
- ``latency.<loop>.p50_vs_thread_event``: the same median against a bare
  ``threading.Event`` hand-off between two threads.
- ``latency.<loop>.p99``: target <= 1,000 µs; against the minimal path's p99 and
  (``p99_vs_thread_event``) the bare thread hand-off's, which show how much of
  the tail is the machine's scheduling noise.
- ``latency.<loop>.queue_executor.p50``/``.p99``: the service with a prototype
  executor (``_handoff.QueueExecutor``: dedicated threads fed by a SimpleQueue,
  results via ``call_soon_threadsafe``) instead of ``LocalExecutor``; the
  baseline is the service as shipped, so the ratio is the gain.
- ``latency.<loop>.minimal_queue_path.p50``: the minimal path with that lighter
  hand-off, against the anyio one.
- ``latency.<loop>.handoff_round_trip``: ``await anyio.to_thread.run_sync(noop)``
  from the loop, µs per call, against the SimpleQueue worker.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from aiotrainer import SequentialBuffer, Trainer, TrainerService

from ._common import LOOPS, NullModel, median, note, percentile, report, run_on
from ._handoff import QueueExecutor, QueueWorker

SAMPLES = 600
ROUNDS = 5
WARMUP = 20
GAP = 0.001
JITTER = 0.001
ROUND_TRIPS = 2000
TARGET_P99 = 1000.0
TARGET_RATIO = 1.3
TARGET_LEAN = 1.2

Fire = Callable[[int], None]


class Stamp:
    """Where the consumer side stamps ``perf_counter()`` and acknowledges."""

    def __init__(self) -> None:
        self.at = 0.0
        self.ack = threading.Event()

    def __call__(self) -> None:
        self.at = time.perf_counter()
        self.ack.set()


def produce(fire: Fire, stamp: Stamp, samples: int, seed: int) -> list[float]:
    """Fire ``samples`` (+ warm-up) separate wake-ups; return latencies in µs."""
    rng = random.Random(seed)
    out: list[float] = []
    for i in range(WARMUP + samples):
        time.sleep(GAP + rng.random() * JITTER)
        stamp.ack.clear()
        t0 = time.perf_counter()
        fire(i)
        if not stamp.ack.wait(5.0):
            raise RuntimeError(f"no stamp 5 s after item {i}")
        if i >= WARMUP:
            out.append((stamp.at - t0) * 1e6)
    return out


class StampTrainer(Trainer):
    """Stamps the start of every ``train()``."""

    def __init__(self) -> None:
        super().__init__("data", min_new_data_count=1)
        self.stamp = Stamp()

    def on_training_models_attached(self) -> None:
        self.get_training_model("model")

    def train(self) -> None:
        self.stamp()


async def service_latency(
    samples: int, seed: int, *, queue: bool, linger: float | None = None
) -> list[float]:
    """The service as shipped (``linger`` at its default unless given)."""
    trainer = StampTrainer()
    executor = QueueExecutor() if queue else None
    options: dict[str, Any] = {} if linger is None else {"linger": linger}
    try:
        async with TrainerService(
            models={"model": NullModel()},
            buffers={"data": SequentialBuffer[int](1024)},
            trainers={"trainer": trainer},
            executor=executor,
            **options,
        ) as service:
            collect = service.data_collectors.acquire("data").collect
            return await anyio.to_thread.run_sync(
                produce, collect, trainer.stamp, samples, seed
            )
    finally:
        if executor is not None:
            executor.close()


async def minimal_latency(samples: int, seed: int, *, queue: bool) -> list[float]:
    """call_soon_threadsafe wakes a waiting task, which hands off to a thread."""
    loop = asyncio.get_running_loop()
    stamp = Stamp()
    box = [anyio.Event()]
    worker = QueueWorker() if queue else None
    handoff: Callable[[Callable[[], None]], Awaitable[Any]] = (
        worker.run if worker is not None else anyio.to_thread.run_sync
    )

    async def consumer() -> None:
        while True:
            await box[0].wait()
            box[0] = anyio.Event()
            await handoff(stamp)

    def wake() -> None:
        box[0].set()

    def fire(_: int) -> None:
        loop.call_soon_threadsafe(wake)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            out = await anyio.to_thread.run_sync(produce, fire, stamp, samples, seed)
            tg.cancel_scope.cancel()
    finally:
        if worker is not None:
            worker.close()
    return out


def thread_event_latency(samples: int, seed: int) -> list[float]:
    """A bare threading.Event hand-off between two threads."""
    go = threading.Event()
    stamp = Stamp()
    stop = [False]

    def consumer() -> None:
        while True:
            go.wait()
            go.clear()
            if stop[0]:
                return
            stamp()

    thread = threading.Thread(target=consumer, name="bench-event-consumer")
    thread.start()
    try:
        return produce(lambda _: go.set(), stamp, samples, seed)
    finally:
        stop[0] = True
        go.set()
        thread.join()


def _noop() -> None:
    pass


async def round_trip(*, queue: bool) -> float:
    """µs per ``await hand-off(noop)`` from the loop."""
    worker = QueueWorker() if queue else None
    try:
        for _ in range(100):  # warm up (threads started)
            if worker is not None:
                await worker.run(_noop)
            else:
                await anyio.to_thread.run_sync(_noop)
        t0 = time.perf_counter()
        if worker is not None:
            for _ in range(ROUND_TRIPS):
                await worker.run(_noop)
        else:
            for _ in range(ROUND_TRIPS):
                await anyio.to_thread.run_sync(_noop)
        return (time.perf_counter() - t0) / ROUND_TRIPS * 1e6
    finally:
        if worker is not None:
            worker.close()


def main() -> None:
    per_round = SAMPLES // ROUNDS
    data: dict[str, list[float]] = {}

    def add(key: str, values: list[float]) -> None:
        data.setdefault(key, []).extend(values)

    for r in range(ROUNDS):
        add("thread_event", thread_event_latency(per_round, r))
        for loop in LOOPS:
            for queue, tag in ((False, ""), (True, ".queue")):
                add(
                    f"{loop}.service{tag}",
                    run_on(loop, partial(service_latency, per_round, r, queue=queue)),
                )
                add(
                    f"{loop}.minimal{tag}",
                    run_on(loop, partial(minimal_latency, per_round, r, queue=queue)),
                )
            add(
                f"{loop}.service.no_linger",
                run_on(
                    loop,
                    partial(service_latency, per_round, r, queue=False, linger=0.0),
                ),
            )
    trips: dict[str, list[float]] = {}
    for _ in range(5):
        for loop in LOOPS:
            for queue, tag in ((False, "anyio"), (True, "queue")):
                trips.setdefault(f"{loop}.{tag}", []).append(
                    run_on(loop, partial(round_trip, queue=queue))
                )

    def p(key: str, q: float) -> float:
        return percentile(data[key], q)

    note(
        f"{per_round * ROUNDS} samples per configuration in {ROUNDS} interleaved "
        f"rounds; the producer sleeps {GAP * 1e3:g}-{(GAP + JITTER) * 1e3:g} ms "
        "between items"
    )
    thread_p50 = p("thread_event", 50)
    for loop in LOOPS:
        svc, mini = f"{loop}.service", f"{loop}.minimal"
        ratio = p(svc, 50) / p(mini, 50)
        report(
            f"latency.{loop}.p50",
            p(svc, 50),
            "µs",
            baseline=("minimal_path", p(mini, 50), "µs"),
            target=f"ratio <= {TARGET_RATIO}",
            ok=ratio <= TARGET_RATIO,
        )
        lean = f"{mini}.queue"
        report(
            f"latency.{loop}.p50_vs_lean",
            p(svc, 50),
            "µs",
            baseline=("lean_two_hop_path", p(lean, 50), "µs"),
            target=f"ratio <= {TARGET_LEAN}",
            ok=p(svc, 50) <= TARGET_LEAN * p(lean, 50),
        )
        report(
            f"latency.{loop}.no_linger.p50_vs_lean",
            p(f"{svc}.no_linger", 50),
            "µs",
            baseline=("lean_two_hop_path", p(lean, 50), "µs"),
        )
        report(
            f"latency.{loop}.no_linger.p99_vs_lean",
            p(f"{svc}.no_linger", 99),
            "µs",
            baseline=("lean_two_hop_path.p99", p(lean, 99), "µs"),
        )
        report(
            f"latency.{loop}.p99_vs_lean",
            p(svc, 99),
            "µs",
            baseline=("lean_two_hop_path.p99", p(lean, 99), "µs"),
        )
        report(
            f"latency.{loop}.p50_vs_thread_event",
            p(svc, 50),
            "µs",
            baseline=("threading.Event", thread_p50, "µs"),
        )
        report(
            f"latency.{loop}.p99",
            p(svc, 99),
            "µs",
            baseline=("minimal_path.p99", p(mini, 99), "µs"),
            target=f"<= {TARGET_P99:,.0f} µs",
            ok=p(svc, 99) <= TARGET_P99,
        )
        report(
            f"latency.{loop}.p99_vs_thread_event",
            p(svc, 99),
            "µs",
            baseline=("threading.Event.p99", p("thread_event", 99), "µs"),
        )
        for q in (50, 99):
            report(
                f"latency.{loop}.queue_executor.p{q}",
                p(f"{svc}.queue", q),
                "µs",
                baseline=("service_as_shipped", p(svc, q), "µs"),
            )
        report(
            f"latency.{loop}.minimal_queue_path.p50",
            p(f"{mini}.queue", 50),
            "µs",
            baseline=("minimal_path", p(mini, 50), "µs"),
        )
        report(
            f"latency.{loop}.handoff_round_trip",
            median(trips[f"{loop}.anyio"]),
            "µs/call",
            baseline=("simplequeue_worker", median(trips[f"{loop}.queue"]), "µs/call"),
        )


if __name__ == "__main__":
    main()
