"""Torch sync: how long the agent waits because of a concurrent sync(), 10M params.

An agent thread calls the inference model in a tight loop with a procedure that
only records when it got the module; a call's wait is the time from calling
``infer()`` to that moment. Meanwhile the training thread syncs SYNCS times. The
figure is the longest wait of any call that overlapped a sync. Baseline: the naive
way, one lock held by both ``infer()`` and a ``load_state_dict`` copy, measured
the same way in the same run. Target: at least 10x shorter (ratio <= 0.1).
Context: the same agent while the training thread makes the same copy into a
module the agent never uses (``control``): the wait that CPU contention alone
causes on this machine, with no lock in common.

Then the sync itself, without an agent: the median ``sync()`` time against one
``load_state_dict(state_dict())`` copy between two such modules (context:
both copy the same 40 MB).
"""

from __future__ import annotations

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


def longest_wait(infer: Callable[[], float], sync: Callable[[], None]) -> list[float]:
    """Per sync, the longest wait (s) of an agent call overlapping it."""
    calls: list[tuple[float, float]] = []
    done = threading.Event()

    def agent() -> None:
        while not done.is_set():
            start = time.perf_counter()
            calls.append((start, infer()))

    thread = threading.Thread(target=agent)
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
    worst: list[float] = []
    for start, end in windows:
        waits = [got - began for began, got in calls if began < end and got > start]
        worst.append(max(waits, default=0.0))
    return worst


def main() -> None:
    torch.set_grad_enabled(False)
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
    for _ in range(3):  # interleaved rounds
        settle()
        ours += longest_wait(agent.infer, model.sync)
        settle()
        base += longest_wait(naive.infer, lambda: naive.sync(model.model))
        settle()
        control += longest_wait(
            agent.infer, lambda: other.load_state_dict(model.model.state_dict())
        )
    unit_ms = 1e3
    report(
        "torch_sync.agent_wait.max",
        max(ours) * unit_ms,
        "ms",
        baseline=("naive_lock.max", max(base) * unit_ms, "ms"),
        target="ratio <= 0.1",
        ok=max(ours) <= 0.1 * max(base),
    )
    report(
        "torch_sync.agent_wait.p50_of_sync_max",
        median(ours) * unit_ms,
        "ms",
        baseline=("naive_lock.p50", median(base) * unit_ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.p90_of_sync_max",
        percentile(ours, 90) * unit_ms,
        "ms",
        baseline=("naive_lock.p90", percentile(base, 90) * unit_ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.max_vs_control",
        max(ours) * unit_ms,
        "ms",
        baseline=("copy_without_sync.max", max(control) * unit_ms, "ms"),
    )
    report(
        "torch_sync.agent_wait.p50_vs_control",
        median(ours) * unit_ms,
        "ms",
        baseline=("copy_without_sync.p50", median(control) * unit_ms, "ms"),
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
        median(syncs) * unit_ms,
        "ms",
        baseline=("load_state_dict.median", median(copies) * unit_ms, "ms"),
        target="ratio <= 1.5",
        ok=median(syncs) <= 1.5 * median(copies),
    )


if __name__ == "__main__":
    main()
