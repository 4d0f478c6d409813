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
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"


class TrainerState(enum.StrEnum):
    """What a trainer is doing."""

    WAITING = "waiting"
    """Waiting until it could be trainable (data or a deadline)."""
    QUEUED = "queued"
    """Trainable, waiting for a worker or a model another trainer holds."""
    RUNNING = "running"
    PARKED = "parked"
    """Mid-run, blocked at a pause point while the service is paused."""
    PAUSED = "paused"
    RETRYING = "retrying"
    """Backing off before running again after an error."""
    DISABLED = "disabled"
    """Parked by its error policy; ``last_error`` says why."""
    FAILED = "failed"
    """Its error stopped the service."""
    STOPPED = "stopped"


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
    runs: int
    """Runs that trained (``run()`` returned True)."""
    skipped: int
    """Runs dispatched that found it not trainable."""
    failures: int
    last_start: float | None
    last_end: float | None
    last_duration: float | None
    last_error: str | None
    metrics: dict[str, Scalar] = {}
    """The last value logged for each metric (:meth:`Trainer.log_metrics`)."""


class BufferStatus(_Model):
    """One data user's counters.

    ``collected + restored == pending + size + dropped`` once producers are quiet.
    """

    size: int
    max_size: int | None
    collected: int
    pending: int
    dropped: int
    restored: int = 0
    """Items loaded from a checkpoint."""


class ServiceStatus(_Model):
    """A snapshot of the whole service."""

    state: ServiceState
    max_workers: int
    running_trainers: int
    trainers: dict[str, TrainerStatus]
    buffers: dict[str, BufferStatus]
    started_at: float | None
    last_checkpoint: str | None = None
    last_save_error: str | None = None
    abandoned_runs: int = 0
    """Runs that outlived their cancellation bound; their threads ran on alone."""
