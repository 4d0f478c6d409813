"""Snapshots of the service's state: pydantic models, ready for the HTTP API."""

from __future__ import annotations

import enum
import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

__all__ = [
    "BufferStatus",
    "Scalar",
    "ServiceState",
    "ServiceStatus",
    "TrainerState",
    "TrainerStatus",
]


class ServiceState(enum.StrEnum):
    """The life cycle of a :class:`~aiotrainer.TrainerService`."""

    CREATED = "created"
    """Constructed, not started."""
    STARTING = "starting"
    """Entering ``async with``: opening the store, restoring a checkpoint."""
    RUNNING = "running"
    """Dispatching trainers."""
    PAUSED = "paused"
    """Paused by ``pause()``: no run in flight but parked ones."""
    STOPPING = "stopping"
    """Shutting down: runs in flight finish, then the final checkpoint."""
    STOPPED = "stopped"
    """Stopped for good; a service starts once."""


class TrainerState(enum.StrEnum):
    """What a trainer is doing."""

    WAITING = "waiting"
    """Waiting until it could be trainable (data or a deadline)."""
    QUEUED = "queued"
    """Trainable, waiting for a worker or a model another trainer holds."""
    RUNNING = "running"
    """Its ``run()`` is in flight in a worker thread."""
    PARKED = "parked"
    """Mid-run, blocked at a pause point while the service is paused."""
    PAUSED = "paused"
    """Not running while the service is paused."""
    RETRYING = "retrying"
    """Backing off before running again after an error."""
    DISABLED = "disabled"
    """Parked by its error policy; ``last_error`` says why."""
    FAILED = "failed"
    """Its error stopped the service."""
    STOPPED = "stopped"
    """The service is not running (not started yet, or stopped)."""


def _scalar_to_json(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


Scalar = Annotated[
    float, PlainSerializer(_scalar_to_json, return_type=float | str, when_used="json")
]
"""A logged metric value: in JSON, NaN and infinities become ``"nan"``, ``"inf"``
and ``"-inf"`` (JSON has no number for them)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainerStatus(_Model):
    """One trainer's state and counters."""

    state: TrainerState
    """What it is doing now."""
    runs: int
    """Runs that trained (``run()`` returned True)."""
    skipped: int
    """Runs dispatched that found it not trainable."""
    failures: int
    """Runs that raised (whatever the error policy then did)."""
    last_start: float | None
    """``time.time()`` when the last run started; ``None`` before the first."""
    last_end: float | None
    """``time.time()`` when the last run ended; ``None`` before the first."""
    last_duration: float | None
    """Seconds the last run took; ``None`` before the first."""
    last_error: str | None
    """The last failure, ``"ExceptionType: message"``; ``None`` if none yet."""
    metrics: dict[str, Scalar] = {}
    """The last value logged for each metric (:meth:`Trainer.log_metrics`)."""


class BufferStatus(_Model):
    """One data user's counters.

    ``collected + restored == pending + size + dropped`` once producers are quiet.
    """

    size: int
    """Items in the buffer now."""
    max_size: int | None
    """The buffer's capacity (``None``: unbounded)."""
    collected: int
    """Items collected since the service was created."""
    pending: int
    """Items collected and not yet moved into the buffer by ``update()``."""
    dropped: int
    """Items gone: ``evicted + lost``."""
    restored: int = 0
    """Items loaded from a checkpoint."""
    evicted: int = 0
    """Items a full buffer evicted or rejected: its policy at work, normal."""
    lost: int = 0
    """Items lost because the collector's queue overflowed before ``update()``
    moved them in (more than ``max_queue_size`` waiting): data loss."""


class ServiceStatus(_Model):
    """A snapshot of the whole service."""

    state: ServiceState
    """The life-cycle state."""
    max_workers: int
    """Runs that may be in flight at once (the executor's worker threads)."""
    running_trainers: int
    """Runs in flight now (parked ones included; a worker waiting in place for
    its trainer's next data runs nothing and is not counted)."""
    trainers: dict[str, TrainerStatus]
    """Each trainer's status, by name."""
    buffers: dict[str, BufferStatus]
    """Each data user's counters, by name."""
    started_at: float | None
    """``time.time()`` when the service started running; ``None`` before."""
    last_checkpoint: str | None = None
    """The path of the last checkpoint saved, or restored at start."""
    last_save_error: str | None = None
    """Why the last failed save failed (cleared by the next good one)."""
    last_save_skipped: str | None = None
    """Why the last skipped save was skipped (cleared by the next good one)."""
    saves_failed: int = 0
    """Saves that failed since the service was created (``save_failed`` events)."""
    saves_skipped: int = 0
    """Saves not attempted to keep what is saved sound (``save_skipped`` events)."""
    abandoned_runs: int = 0
    """Runs that outlived their cancellation bound; their threads ran on alone."""
