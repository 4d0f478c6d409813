"""Helpers shared by the benchmark modules: reporting, loops, tiny models."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import uvloop

from aiotrainer import InferenceModel, TrainingModel

__all__ = [
    "LOOPS",
    "NullModel",
    "cpu_percent",
    "median",
    "note",
    "percentile",
    "report",
    "run_on",
    "settle",
    "vmrss_mb",
]

T = TypeVar("T")

LOOPS = ("asyncio", "uvloop")
"""The event loops the latency-sensitive figures are measured on."""


def run_on(loop: str, main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh event loop of the kind ``loop`` names."""
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())  # type: ignore[arg-type]


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, nearest rank."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU time as a percentage of one core over a wall-clock interval."""
    return 100.0 * cpu_seconds / wall_seconds


def vmrss_mb() -> float:
    """This process's resident set size (``VmRSS``), in MB (10**6 bytes)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS line in /proc/self/status")


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def report(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: tuple[str, float, str] | None = None,
    ratio: float | None = None,
    target: str | None = None,
    ok: bool | None = None,
) -> None:
    """Print one figure on one line.

    ``<name>  <value> <unit>  (baseline <name> <value> <unit>, ratio <x.xx>)
    target <text> ok|MISS``. The ratio is ``value / baseline`` unless given.
    A figure without a target is context only and says ``target none``.
    """
    if baseline is None:
        base = "(no baseline)"
    else:
        b_name, b_value, b_unit = baseline
        if ratio is None:
            ratio = value / b_value if b_value else math.inf
        shown = f"{ratio:.2f}" if ratio >= 0.01 or ratio == 0 else f"{ratio:.2g}"
        base = f"(baseline {b_name} {_fmt(b_value)} {b_unit}, ratio {shown})"
    if target is None:
        goal = "target none"
    else:
        goal = f"target {target} {'ok' if ok else 'MISS'}"
    print(f"{name:<40}  {_fmt(value)} {unit}  {base}  {goal}", flush=True)


def note(text: str) -> None:
    """Print a context line that is not a figure (starts with ``#``)."""
    print(f"# {text}", flush=True)


def settle(seconds: float = 0.2) -> None:
    """Let threads from a previous measurement wind down."""
    time.sleep(seconds)


class NullInference(InferenceModel):
    """An inference model that does nothing."""

    def infer(self, *args: Any, **kwargs: Any) -> Any:
        return None


class NullModel(TrainingModel[NullInference]):
    """A training model that does nothing; syncing it is free."""

    def _create_inference_model(self) -> NullInference:
        return NullInference()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def sync_impl(self, inference_model: NullInference) -> None:
        pass
