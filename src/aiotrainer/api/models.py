"""The API's request and response bodies (pydantic models, in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..status import Scalar, ServiceState, TrainerStatus

__all__ = [
    "DataBatch",
    "ErrorBody",
    "Health",
    "IngestResult",
    "MetricPointModel",
    "Readiness",
    "RunRecordModel",
    "SaveResult",
    "StateChange",
    "TrainerDetail",
    "TrainerList",
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(_Response):
    """Every error answer."""

    error: str
    """A short machine-readable kind, e.g. ``"not_found"``."""
    message: str
    """What was wrong, for a person."""
    details: list[Any] | None = None
    """For validation errors: where and why, one entry per problem."""


class Health(_Response):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"] = "ok"


class Readiness(_Response):
    """``GET /readyz``: running (or paused) and not stopping."""

    ready: bool
    state: ServiceState


class TrainerList(_Response):
    """``GET /v1/trainers``."""

    trainers: dict[str, TrainerStatus]


class MetricPointModel(_Response):
    """Scalars logged together by one ``log_metrics()`` call."""

    run: int
    time: float
    values: dict[str, Scalar]


class RunRecordModel(_Response):
    """One run the scheduler dispatched."""

    run: int
    started: float
    duration: float
    outcome: Literal["trained", "skipped", "failed"]
    new_items: dict[str, int]


class TrainerDetail(_Response):
    """``GET /v1/trainers/{name}``: the status and the kept history."""

    name: str
    status: TrainerStatus
    history: list[MetricPointModel]
    runs: list[RunRecordModel]


class StateChange(_Response):
    """The service's state after a pause, resume or shutdown request."""

    state: ServiceState


class SaveResult(_Response):
    """``POST /v1/save``: the checkpoint, once it is on disk."""

    path: str


class IngestResult(_Response):
    """``POST /v1/data/{buffer}``."""

    buffer: str
    accepted: int
    """Items handed to the buffer's collector."""
    dropped: int
    """Items the collector's full queue dropped meanwhile (the oldest first, so
    they may be older items than this batch's)."""


class DataBatch(BaseModel):
    """The body of ``POST /v1/data/{buffer}``, as JSON or msgpack."""

    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(description="The items, each collected as it is.")
