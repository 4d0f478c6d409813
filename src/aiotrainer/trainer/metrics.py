"""A trainer's metrics: the scalars it logs and the record of its runs.

:meth:`Trainer.log_metrics` writes here from the worker thread; the scheduler
records every run here on the loop; ``status()``, the events, the HTTP API and
``/metrics`` read it. Everything is under one lock, so any thread may call any
method. The history is bounded and travels with the trainer's checkpoint.
"""

from __future__ import annotations

import bisect
import json
import math
import numbers
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DURATION_BUCKETS",
    "DurationHistogram",
    "MetricPoint",
    "MetricsRecorder",
    "RunOutcome",
    "RunRecord",
]

RunOutcome = Literal["trained", "skipped", "failed"]

DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    60.0,
    300.0,
)
"""Upper bounds (seconds) of the run duration histogram's buckets."""

_FILE = "metrics.json"
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """Scalars logged together by one :meth:`Trainer.log_metrics` call."""

    run: int
    """The run they belong to (1 for the first run that trains)."""
    time: float
    """When they were logged, a wall-clock ``time.time()`` value."""
    values: Mapping[str, float]
    """Metric name -> value (NaN and infinities kept)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run the scheduler dispatched, recorded without user code."""

    run: int
    """The run number: trained runs count 1, 2, ...; a skipped or failed run has
    the number of the run it would have been."""
    started: float
    """When the run started, a ``time.time()`` value."""
    duration: float
    """Seconds the run took."""
    outcome: RunOutcome
    """``"trained"``, ``"skipped"`` (not trainable after all) or ``"failed"``."""
    new_items: Mapping[str, int]
    """Items collected per data user since the previous run started."""


@dataclass(frozen=True)
class DurationHistogram:
    """Cumulative counts of run durations, Prometheus style."""

    buckets: tuple[tuple[float, int], ...]
    """(upper bound, runs that took at most that long), then ``(inf, count)``."""
    total: float
    """Seconds of all runs together."""
    count: int


@dataclass
class _Counts:
    per_bucket: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    over: int = 0
    total: float = 0.0


def _check_values(values: object) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise TypeError(
            f"log_metrics() needs a mapping of name -> number, "
            f"got {type(values).__name__}: {values!r}"
        )
    out: dict[str, float] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"log_metrics(): metric names must be non-empty strings, got {name!r}"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"log_metrics(): metric {name!r} must be a real number, "
                f"got {type(value).__name__}: {value!r}"
            )
        out[name] = float(value)
    return out


class MetricsRecorder:
    """A trainer's logged scalars and run records (thread-safe, bounded).

    :param max_history: metric points and run records kept (each), the oldest
        dropped first.
    :raises ValueError: if ``max_history < 1``.
    """

    def __init__(self, max_history: int = 1000) -> None:
        if isinstance(max_history, bool) or not isinstance(max_history, int):
            raise TypeError(f"max_history must be an int, got {max_history!r}")
        if max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {max_history}")
        self._lock = threading.Lock()
        self._points: deque[MetricPoint] = deque(maxlen=max_history)
        self._runs: deque[RunRecord] = deque(maxlen=max_history)
        self._latest: dict[str, float] = {}
        self._since_run: dict[str, float] = {}
        self._trained = 0
        self._last_collected: dict[str, int] = {}
        self._durations = _Counts()

    # -- writing ---------------------------------------------------------------

    def log(self, values: Mapping[str, float]) -> None:
        """Record ``values`` (name -> number; NaN and infinities allowed) now.

        :raises TypeError: for a non-mapping, a bad name or a non-number value.
        """
        checked = _check_values(values)
        if not checked:
            return
        now = time.time()
        with self._lock:
            self._points.append(MetricPoint(self._trained + 1, now, checked))
            self._latest.update(checked)
            self._since_run.update(checked)

    def record_run(
        self,
        *,
        started: float,
        duration: float,
        outcome: RunOutcome,
        collected: Mapping[str, int],
    ) -> RunRecord:
        """Record a run the scheduler dispatched.

        :param collected: items collected so far per data user, taken at the start.
        :return: the record.
        """
        with self._lock:
            if outcome == "trained":
                self._trained += 1
                run = self._trained
            else:
                run = self._trained + 1
            new = {
                name: max(0, count - self._last_collected.get(name, 0))
                for name, count in collected.items()
            }
            self._last_collected = dict(collected)
            record = RunRecord(run, started, duration, outcome, new)
            self._runs.append(record)
            counts = self._durations
            index = bisect.bisect_left(DURATION_BUCKETS, duration)
            if index < len(DURATION_BUCKETS):
                counts.per_bucket[index] += 1
            else:
                counts.over += 1
            counts.total += duration
            return record

    def take_logged(self) -> dict[str, float]:
        """The latest value of each metric logged since the previous call."""
        if not self._since_run:  # the common case, without the lock
            return {}
        with self._lock:
            out, self._since_run = self._since_run, {}
            return out

    # -- reading ---------------------------------------------------------------

    def latest(self) -> dict[str, float]:
        """The last value logged for each metric name."""
        with self._lock:
            return dict(self._latest)

    def history(self) -> list[MetricPoint]:
        """The metric points kept, oldest first."""
        with self._lock:
            return list(self._points)

    def runs(self) -> list[RunRecord]:
        """The run records kept, oldest first."""
        with self._lock:
            return list(self._runs)

    def duration_histogram(self) -> DurationHistogram:
        """Run durations since this process started recording."""
        with self._lock:
            counts = self._durations
            cumulative: list[tuple[float, int]] = []
            running = 0
            for bound, n in zip(DURATION_BUCKETS, counts.per_bucket, strict=True):
                running += n
                cumulative.append((bound, running))
            running += counts.over
            cumulative.append((math.inf, running))
            return DurationHistogram(tuple(cumulative), counts.total, running)

    # -- persistence -------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the history and run records into ``directory``."""
        with self._lock:
            document: dict[str, Any] = {
                "format": _FORMAT,
                "trained_runs": self._trained,
                "latest": self._latest,
                "points": [asdict(p) for p in self._points],
                "runs": [asdict(r) for r in self._runs],
            }
        # json writes NaN and Infinity as such and reads them back.
        (directory / _FILE).write_text(json.dumps(document), encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Read back what :meth:`save` wrote; a directory without it (a
        checkpoint from before metrics, or pamiq-core's) leaves the history empty.

        :raises ValueError: if the file is not what :meth:`save` writes.
        """
        path = directory / _FILE
        if not path.exists():
            return
        try:
            document = json.loads(path.read_text("utf-8"))
            if document.get("format") != _FORMAT:
                raise ValueError(f"format {document.get('format')!r}")
            points = [
                MetricPoint(int(p["run"]), float(p["time"]), _check_values(p["values"]))
                for p in document["points"]
            ]
            runs = [
                RunRecord(
                    int(r["run"]),
                    float(r["started"]),
                    float(r["duration"]),
                    r["outcome"],
                    {str(k): int(v) for k, v in r["new_items"].items()},
                )
                for r in document["runs"]
            ]
            latest = _check_values(document["latest"])
            trained = int(document["trained_runs"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{str(path)!r} is not a metrics history written by aiotrainer: {exc}"
            ) from exc
        with self._lock:
            self._points.clear()
            self._points.extend(points)
            self._runs.clear()
            self._runs.extend(runs)
            self._latest = latest
            self._trained = trained
