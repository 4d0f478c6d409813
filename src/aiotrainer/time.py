"""pamiq-core's clock: a time that can be paused and run scaled.

Everything aiotrainer stamps or waits on in "system time" reads this module at
call time: the collectors' timestamps, a trainer's ``previous_training_time``,
the deadlines of :class:`~aiotrainer.MinInterval`. The service pauses the clock in
:meth:`~aiotrainer.TrainerService.pause` and resumes it in ``resume()``, as
pamiq-core's launcher does, and saves it in every checkpoint as ``time.pkl``.

The module-level functions are those of pamiq-core's ``pamiq_core.time`` with the
same meaning::

    from aiotrainer import time

    time.time()              # seconds since the epoch, scaled, frozen while paused
    time.set_time_scale(10)  # a simulator running ten times faster than real time
    time.fixed_time()        # the real wall clock, never scaled nor paused

Patching one of them (``mock.patch("aiotrainer.time.time")``) affects every reader,
since none binds the function ahead of time.
"""

from __future__ import annotations

import math
import pickle
import threading
import time as _real
from numbers import Real
from pathlib import Path
from typing import TypedDict

from .errors import AiotrainerError
from .state.persistence import PersistentStateMixin

__all__ = [
    "TimeController",
    "TimeScaleError",
    "fixed_sleep",
    "fixed_time",
    "get_global_time_controller",
    "get_time_scale",
    "is_paused",
    "load_state_dict",
    "monotonic",
    "pause",
    "perf_counter",
    "real_seconds_until",
    "resume",
    "set_time_scale",
    "sleep",
    "state_dict",
    "time",
]

_real_time = _real.time
_REAL_CLOCKS = {
    "time": _real.time,
    "perf_counter": _real.perf_counter,
    "monotonic": _real.monotonic,
}


class TimeScaleError(AiotrainerError, ValueError, AssertionError):
    """A time scale that is not a positive finite number.

    An ``AssertionError`` as in pamiq-core (whose check is an ``assert``), and a
    ``ValueError``, which is what it is.
    """


class _TimeState(TypedDict):
    """What a checkpoint keeps of the clock: where each scaled clock stood."""

    scaled_anchor_time: float
    scaled_anchor_monotonic: float
    scaled_anchor_perf_counter: float


class TimeController(PersistentStateMixin):
    """A scalable, pausable view of the ``time``, ``perf_counter`` and
    ``monotonic`` clocks. Thread-safe.

    Each clock reads ``anchor + (real_now - real_anchor) * scale``, or ``anchor``
    while paused. Changing the scale, pausing and resuming re-anchor it, so the
    scaled clocks never jump. Readers take no lock: the anchors are replaced as
    one tuple, so a reader sees the old ones or the new ones, never a mix.
    """

    TimeControllerState = _TimeState
    """The type of :meth:`state_dict` (pamiq-core's name)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # (paused, scale, real anchors, scaled anchors), replaced whole
        self._anchors: tuple[bool, float, dict[str, float], dict[str, float]]
        self._time_anchor: tuple[bool, float, float, float]
        real = {name: read() for name, read in _REAL_CLOCKS.items()}
        self._set(paused=False, scale=1.0, scaled=real)

    @property
    def _paused(self) -> bool:
        return self._anchors[0]

    @property
    def _scale(self) -> float:
        return self._anchors[1]

    def _read(self, name: str) -> float:
        paused, scale, real_anchor, scaled_anchor = self._anchors
        if paused:
            return scaled_anchor[name]
        return scaled_anchor[name] + (_REAL_CLOCKS[name]() - real_anchor[name]) * scale

    def _set(self, *, paused: bool, scale: float, scaled: dict[str, float]) -> None:
        """Anchor the scaled clocks at ``scaled`` now (under the lock)."""
        real = {name: read() for name, read in _REAL_CLOCKS.items()}
        self._anchors = (paused, scale, real, scaled)
        # time() is on collect()'s hot path: its own flat tuple, no dict lookups
        self._time_anchor = (paused, scale, real["time"], scaled["time"])

    def _now(self) -> dict[str, float]:
        return {name: self._read(name) for name in _REAL_CLOCKS}

    def time(self) -> float:
        """Seconds since the epoch, scaled; frozen while paused."""
        paused, scale, real, scaled = self._time_anchor
        if paused:
            return scaled
        return scaled + (_real_time() - real) * scale

    def perf_counter(self) -> float:
        """A performance counter, scaled; frozen while paused."""
        return self._read("perf_counter")

    def monotonic(self) -> float:
        """A monotonic clock, scaled; frozen while paused."""
        return self._read("monotonic")

    def is_paused(self) -> bool:
        """Whether the clock is paused."""
        return self._paused

    def get_time_scale(self) -> float:
        """The time scale: scaled seconds per real second."""
        return self._scale

    def set_time_scale(self, time_scale: float) -> None:
        """Run the clock ``time_scale`` times as fast as real time from now on.

        :param time_scale: a finite number > 0.
        :raises TimeScaleError: (an ``AssertionError`` and a ``ValueError``) for a
            scale that is not > 0 ("Time scale must be > 0", as pamiq-core says).
        """
        if (
            isinstance(time_scale, bool)
            or not isinstance(time_scale, Real)
            or not math.isfinite(time_scale)
            or not time_scale > 0
        ):
            raise TimeScaleError(
                f"Time scale must be > 0: expected a finite number > 0, got {time_scale!r}"
            )
        with self._lock:
            self._set(paused=self._paused, scale=float(time_scale), scaled=self._now())

    def pause(self) -> None:
        """Stop the scaled clocks where they are. Idempotent."""
        with self._lock:
            if not self._paused:
                self._set(paused=True, scale=self._scale, scaled=self._now())

    def resume(self) -> None:
        """Let the scaled clocks run again from where they stopped. Idempotent."""
        with self._lock:
            if self._paused:
                self._set(paused=False, scale=self._scale, scaled=self._now())

    def sleep(self, secs: float) -> None:
        """Sleep ``secs`` scaled seconds; returns at once while paused (pamiq-core's
        rule: a paused clock would never get there)."""
        paused, scale, _, _ = self._anchors
        if not paused:
            _real.sleep(secs / scale)

    def real_seconds_until(self, deadline: float) -> float:
        """Real seconds until :meth:`time` reaches ``deadline`` at the current
        scale, as if the clock were running (>= 0)."""
        scale = self._scale
        return max(0.0, (deadline - self._read("time")) / scale)

    # pamiq-core's names for the anchors, read by code that inspects a controller
    @property
    def _scaled_anchor_time(self) -> float:
        return self._anchors[3]["time"]

    @property
    def _scaled_anchor_monotonic(self) -> float:
        return self._anchors[3]["monotonic"]

    @property
    def _scaled_anchor_perf_counter(self) -> float:
        return self._anchors[3]["perf_counter"]

    def state_dict(self) -> _TimeState:
        """Where the scaled clocks stand now (what a checkpoint keeps); they are
        re-anchored there, as pamiq-core does."""
        with self._lock:
            now = self._now()
            self._set(paused=self._paused, scale=self._scale, scaled=now)
        return _TimeState(
            scaled_anchor_time=now["time"],
            scaled_anchor_monotonic=now["monotonic"],
            scaled_anchor_perf_counter=now["perf_counter"],
        )

    def load_state_dict(self, state_dict: _TimeState) -> None:
        """Continue the scaled clocks from a saved :meth:`state_dict`.

        :raises KeyError: if an entry is missing.
        """
        scaled = {
            "time": float(state_dict["scaled_anchor_time"]),
            "monotonic": float(state_dict["scaled_anchor_monotonic"]),
            "perf_counter": float(state_dict["scaled_anchor_perf_counter"]),
        }
        with self._lock:
            self._set(paused=self._paused, scale=self._scale, scaled=scaled)

    def save_state(self, path: Path) -> None:
        """Pickle :meth:`state_dict` to ``path`` with the ``.pkl`` suffix
        (pamiq-core's ``time.pkl`` when registered as ``"time"``)."""
        with open(path.with_suffix(".pkl"), "wb") as f:
            pickle.dump(dict(self.state_dict()), f)

    def load_state(self, path: Path) -> None:
        """Load what :meth:`save_state` wrote (trusted input: pickle)."""
        with open(path.with_suffix(".pkl"), "rb") as f:
            self.load_state_dict(pickle.load(f))

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running"
        return f"<TimeController {state} scale={self._scale}>"


_time_controller = TimeController()


def get_global_time_controller() -> TimeController:
    """The process-wide clock that the module functions read."""
    return _time_controller


is_paused = _time_controller.is_paused
sleep = _time_controller.sleep
time = _time_controller.time
perf_counter = _time_controller.perf_counter
monotonic = _time_controller.monotonic
set_time_scale = _time_controller.set_time_scale
get_time_scale = _time_controller.get_time_scale
pause = _time_controller.pause
resume = _time_controller.resume
state_dict = _time_controller.state_dict
load_state_dict = _time_controller.load_state_dict
real_seconds_until = _time_controller.real_seconds_until

fixed_sleep = _real.sleep
fixed_time = _real.time
