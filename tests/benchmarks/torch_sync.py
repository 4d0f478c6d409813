"""Torch sync: how long the agent waits because of a concurrent sync(), 10M params.

An agent thread calls the inference model in a tight loop with a procedure that
only records when it got the module; a call's wait is the time from calling
``infer()`` to that moment. Meanwhile the training thread syncs SYNCS times per
round, ROUNDS rounds. Each sync's figure is the longest wait of any call that
overlapped it; reported are their 90th percentile (the target figure), median
and maximum. The maximum is context: on a shared machine one preemption of the
agent's thread sets it, with or without a sync (see ``control``). Baseline: the naive
way, one lock held by both ``infer()`` and a ``load_state_dict`` copy, measured
the same way in the same run. Target: at least 10x shorter (ratio <= 0.1).
Context: the same agent while the training thread makes the same copy into a
module the agent never uses (``control``): the wait that CPU contention alone
causes on this machine, with no lock in common. torch's intra-op threads are
set to one fewer than the cores, leaving one to the agent.

Then the sync itself, without an agent: the median ``sync()`` time against one
``load_state_dict(state_dict())`` copy between two such modules (both copy the
same 41 MB; target ratio <= 1.5). Last, context: what an ``infer()`` call costs
beyond its procedure (a no-op here), against pamiq-core's way (one ``RLock`` held
for the call, under ``torch.inference_mode()``).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ._common import median, note, percentile, report, settle

try:
    import torch
    from torch import nn
except ImportError:  # the extra is optional: say so and skip
    print("# torch is not installed: torch_sync skipped (make install-dev installs it)")
    sys.exit(0)

from aiotrainer.torch import TorchTrainingModel

WIDTH = 1600
LAYERS = 4  # 4 x (1600 x 1600 + 1600) = 10.25 M parameters
SYNCS = 30
ROUNDS = 3
GAP_S = 0.02
AGENT_INPUT = torch.ones(
    1, WIDTH
)  # between syncs: the agent runs freely, as between trainer runs


def network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*(nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)))


def entered(model: nn.Module, *args: Any) -> float:
    """The inference procedure: note when the call got its module, then run a
    small forward pass (the first layer on one input), as an agent would."""
    got = time.perf_counter()
    model[0](AGENT_INPUT)
    return got


class NaiveInference:
    """The baseline: one lock around inference and around a full copy."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.lock = threading.Lock()

    def infer(self) -> float:
        with self.lock, torch.inference_mode():
            return entered(self.module)

    def sync(self, source: nn.Module) -> None:
        with self.lock:
            self.module.load_state_dict(source.state_dict())


class LockedInference:
    """pamiq-core's way of calling the module: an RLock held for the call."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.lock = threading.RLock()

    @torch.inference_mode()
    def infer(self, x: Any) -> Any:
        with self.lock:
            return noop(self.module, x)


def noop(model: nn.Module, x: Any) -> Any:
    return x


def per_call(infer: Callable[[Any], Any], calls: int = 20_000) -> float:
    """Seconds per ``infer(None)`` call."""
    start = time.perf_counter()
    for _ in range(calls):
        infer(None)
    return (time.perf_counter() - start) / calls


def longest_wait(infer: Callable[[], float], sync: Callable[[], None]) -> list[float]:
    """Per sync, the longest wait (s) of an agent call overlapping it."""
    calls: list[tuple[float, float]] = []
    done = threading.Event()

    def agent() -> None:
        while not done.is_set():
            start = time.perf_counter()
            calls.append((start, infer()))

    thread = threading.Thread(target=agent)
    gc.collect()
    gc.disable()  # a collection of the growing `calls` list would stall a call
    thread.start()
    windows: list[tuple[float, float]] = []
    try:
        for _ in range(SYNCS):
            time.sleep(GAP_S)
            start = time.perf_counter()
            sync()
            windows.append((start, time.perf_counter()))
    finally:
        done.set()
        thread.join()
        gc.enable()
    worst: list[float] = []
    for start, end in windows:
        waits = [got - began for began, got in calls if began < end and got > start]
        worst.append(max(waits, default=0.0))
    return worst


def main() -> None:
    torch.set_grad_enabled(False)
    # torch's copy threads leave a core to the agent, as a deployment would; the
    # naive baseline and the control run under the same setting.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    model = TorchTrainingModel(network(), inference_procedure=entered)
    params = sum(p.numel() for p in model.model.parameters())
    note(
        f"{params / 1e6:.2f} M parameters ({params * 4 / 1e6:.0f} MB), {SYNCS} syncs "
        f"per round, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    naive = NaiveInference(network())
    agent = model.inference_model
    other = network()
    ours: list[float] = []
    base: list[float] = []
    control: list[float] = []
    for _ in range(ROUNDS):  # interleaved
        settle()
        ours += longest_wait(agent.infer, model.sync)
        settle()
        base += longest_wait(naive.infer, lambda: naive.sync(model.model))
        settle()
        control += longest_wait(
            agent.infer, lambda: other.load_state_dict(model.model.state_dict())
        )
    ms = 1e3
    p90, b90, c90 = (percentile(x, 90) for x in (ours, base, control))
    report(
        "torch_sync.agent_wait.p90",
        p90 * ms,
        "ms",
        baseline=("naive_lock.p90", b90 * ms, "ms"),
        target="ratio <= 0.1",
        ok=p90 <= 0.1 * b90,
    )
    report(
        "torch_sync.agent_wait.p50",
        median(ours) * ms,
        "ms",
        baseline=("naive_lock.p50", median(base) * ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.max",
        max(ours) * ms,
        "ms",
        baseline=("naive_lock.max", max(base) * ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.p90_vs_control",
        p90 * ms,
        "ms",
        baseline=("copy_without_sync.p90", c90 * ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.max_vs_control",
        max(ours) * ms,
        "ms",
        baseline=("copy_without_sync.max", max(control) * ms, "ms"),
    )

    syncs: list[float] = []
    copies: list[float] = []
    for _ in range(15):
        start = time.perf_counter()
        model.sync()
        syncs.append(time.perf_counter() - start)
        start = time.perf_counter()
        other.load_state_dict(model.model.state_dict())
        copies.append(time.perf_counter() - start)
    report(
        "torch_sync.sync_time.median",
        median(syncs) * ms,
        "ms",
        baseline=("load_state_dict.median", median(copies) * ms, "ms"),
        target="ratio <= 1.5",
        ok=median(syncs) <= 1.5 * median(copies),
    )

    tiny = TorchTrainingModel(nn.Linear(4, 4), inference_procedure=noop)
    locked = LockedInference(nn.Linear(4, 4))
    ours_call: list[float] = []
    locked_call: list[float] = []
    for _ in range(7):
        ours_call.append(per_call(tiny.inference_model.infer))
        locked_call.append(per_call(locked.infer))
    report(
        "torch_sync.infer_call.median",
        median(ours_call) * 1e6,
        "us",
        baseline=("rlock_call.median", median(locked_call) * 1e6, "us"),
    )


if __name__ == "__main__":
    main()
