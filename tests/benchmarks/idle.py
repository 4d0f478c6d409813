"""Idle cost: CPU and memory of a running service whose trainers wait for data.

Figures:

- ``idle.10_trainers.<loop>``: process CPU (``time.process_time``, all threads)
  over WINDOW seconds as % of one core, 10 waiting trainers, on asyncio and uvloop.
- ``idle.1000_trainers.<loop>``: the same with 1,000 trainers, each with its own
  buffer.
- ``idle.1000_trainers.rss``: the process's VmRSS with those 1,000 trainers
  running; ``idle.1000_trainers.rss_delta``: its growth over the process before
  the buffers, trainers and service were created.

Each trainer has a ``SequentialBuffer``, ``min_new_data_count=1`` and no data ever
comes. The baseline is a busy-poll loop like pamiq-core's (a thread checks a
condition and sleeps 1 µs, repeatedly), measured for BASELINE_WINDOW seconds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from functools import partial

import anyio

from aiotrainer import SequentialBuffer, Trainer, TrainerService, TrainerState

from ._common import LOOPS, cpu_percent, note, report, run_on, vmrss_mb

WINDOW = 5.0
BASELINE_WINDOW = 1.0
SETTLE = 0.5


class WaitingTrainer(Trainer):
    """Trains on one new item; none ever comes."""

    def __init__(self, buffer: str) -> None:
        super().__init__(buffer, min_new_data_count=1)
        self.runs = 0

    def train(self) -> None:
        self.runs += 1


def busy_poll_baseline() -> float:
    """CPU % of one core of a pamiq-core-like polling thread."""
    stop = threading.Event()
    flag = [False]

    def poll() -> None:
        while not stop.is_set():
            if flag[0]:  # "is any trainer trainable?"
                break
            time.sleep(1e-6)

    thread = threading.Thread(target=poll, name="bench-busy-poll")
    c0, w0 = time.process_time(), time.perf_counter()
    thread.start()
    time.sleep(BASELINE_WINDOW)
    stop.set()
    thread.join()
    return cpu_percent(time.process_time() - c0, time.perf_counter() - w0)


async def idle_service(n: int) -> tuple[float, float, float, int]:
    """Run ``n`` waiting trainers; return (CPU %, RSS MB, RSS delta MB, runs)."""
    rss0 = vmrss_mb()
    buffers = {f"b{i}": SequentialBuffer[int](16) for i in range(n)}
    trainers = {f"t{i}": WaitingTrainer(f"b{i}") for i in range(n)}
    async with TrainerService(buffers=buffers, trainers=trainers) as service:
        await anyio.sleep(SETTLE)
        states = {t.state for t in service.status().trainers.values()}
        if states != {TrainerState.WAITING}:
            raise RuntimeError(f"expected every trainer waiting, got {states}")
        c0, w0 = time.process_time(), time.perf_counter()
        await anyio.sleep(WINDOW)
        cpu = cpu_percent(time.process_time() - c0, time.perf_counter() - w0)
        rss = vmrss_mb()
    runs = sum(t.runs for t in trainers.values())
    return cpu, rss, rss - rss0, runs


def _measure_in_child(n: int, loop: str) -> tuple[float, float, float]:
    """Run one configuration in a fresh interpreter, for a clean RSS."""
    out = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--child", str(n), loop],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu, rss, delta = map(float, out.split())
    return cpu, rss, delta


def _child(n: int, loop: str) -> None:
    cpu, rss, delta, runs = run_on(loop, partial(idle_service, n))
    if runs:
        raise RuntimeError(f"{runs} runs without data: the trainers ran")
    print(cpu, rss, delta)


def main() -> None:
    baseline = busy_poll_baseline()
    base = ("busy_poll_1us", baseline, "% core")
    note(
        f"CPU over {WINDOW:g} s after {SETTLE:g} s settling, each in a fresh "
        f"process; baseline over {BASELINE_WINDOW:g} s"
    )
    for n, limit in ((10, 1.0), (1000, 2.0)):
        for loop in LOOPS:
            cpu, rss, delta = _measure_in_child(n, loop)
            report(
                f"idle.{n}_trainers.{loop}",
                cpu,
                "% core",
                baseline=base,
                target=f"< {limit:g} % core",
                ok=cpu < limit,
            )
            if n == 1000:
                report(
                    f"idle.1000_trainers.{loop}.rss",
                    rss,
                    "MB",
                    target="< 200 MB",
                    ok=rss < 200,
                )
                report(f"idle.1000_trainers.{loop}.rss_delta", delta, "MB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(int(sys.argv[2]), sys.argv[3])
    else:
        main()
