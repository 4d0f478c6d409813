"""``create_app(service)``: the HTTP control API as a FastAPI app."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import BackgroundTasks, FastAPI, HTTPException, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from .. import __version__
from ..errors import UnknownNameError
from ..scheduler.errors import PauseTimeoutError, ServiceStateError
from ..service import TrainerService
from ..state.errors import CheckpointSaveError
from ..status import ServiceState, ServiceStatus
from ._errors import add_error_handlers
from ._events import EventStreams
from ._guard import Guard
from ._ingest import MSGPACK_TYPES, read_batch, schema_adapters
from ._prometheus import CONTENT_TYPE, ServiceMetrics
from .models import (
    ErrorBody,
    Health,
    IngestResult,
    MetricPointModel,
    Readiness,
    RunRecordModel,
    SaveResult,
    StateChange,
    TrainerDetail,
    TrainerList,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ApiContext", "create_app"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""The default request body limit: 8 MiB."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422)
}


@dataclass(frozen=True)
class ApiContext:
    """What :func:`serve` needs to know of an app made by :func:`create_app`.

    It sits in ``app.state.aiotrainer``.
    """

    service: TrainerService
    requires_token: bool
    event_streams: EventStreams


def _json(model: BaseModel) -> Response:
    """``model`` as JSON, serialized once: FastAPI would dump it, validate it
    again and dump it again, for a model built from our own data."""
    return Response(model.model_dump_json(), media_type="application/json")


def _unknown(kind: str, name: str, known: Iterable[str]) -> HTTPException:
    return HTTPException(404, str(UnknownNameError(kind, name, known).args[0]))


def _pause_timeout_message(wait: float, exc: PauseTimeoutError) -> str:
    """The 409 of a pause that ran out of time, naming the runs still going:
    none when they ended as the bound expired (as :class:`PauseTimeoutError`
    says it)."""
    running = ", ".join(exc.running) or "none (they ended meanwhile)"
    return (
        f"pause did not take effect within {wait:g} s; still running: {running}; "
        "the service was left running"
    )


def create_app(
    service: TrainerService,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    cors_origins: Iterable[str] | None = None,
    item_schemas: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The control API of ``service``: an ASGI app to serve or to mount.

    Serve it with :func:`aiotrainer.api.serve` inside your task group, or mount it
    in your own app: ``your_app.mount("/trainer", create_app(service))``.

    :param service: the service it controls (started or not yet).
    :param token: a bearer token every request but ``/healthz`` and ``/readyz``
        must carry; ``None``: no authentication (keep it on loopback).
    :param max_body_bytes: the largest request body; larger ones get 413 before
        they are parsed.
    :param cors_origins: origins allowed by CORS; ``None``: no CORS headers.
    :param item_schemas: buffer name -> a type pydantic validates items with
        (e.g. a ``BaseModel``); ingested items must match it (422 otherwise) and
        are collected as validated. Buffers not named take any JSON value.
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for an empty token, a limit < 1, or a schema for an
        unknown buffer.
    :return: the FastAPI app.
    """
    if not isinstance(service, TrainerService):
        raise TypeError(f"service must be a TrainerService, got {service!r}")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ValueError(f"token must be a non-empty str or None, got {token!r}")
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1
    ):
        raise ValueError(f"max_body_bytes must be an int >= 1, got {max_body_bytes!r}")
    origins = None if cors_origins is None else list(cors_origins)
    if origins is not None and not all(isinstance(o, str) and o for o in origins):
        raise TypeError(f"cors_origins must be non-empty strings, got {origins!r}")
    unknown = set(item_schemas or {}) - set(service.data_users)
    if unknown:
        raise ValueError(
            f"item_schemas names unknown buffer(s) {sorted(unknown)}; expected one "
            f"of: {', '.join(sorted(service.data_users)) or 'none'}"
        )
    adapters = schema_adapters(item_schemas)

    app = FastAPI(
        title="aiotrainer control API",
        version=__version__,
        description="Inspect and control a TrainerService; feed its buffers.",
        responses=_ERRORS,
    )
    streams = EventStreams(service)
    metrics = ServiceMetrics(service)
    app.state.aiotrainer = ApiContext(service, token is not None, streams)
    add_error_handlers(app)
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)
    if origins is not None:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """The process answers (no token needed)."""
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["health"],
        responses={503: {"model": Readiness, "description": "Not ready."}},
    )
    async def readyz() -> Response:
        """Ready: running or paused, and not stopping (no token needed)."""
        state = service.state
        ready = state in (ServiceState.RUNNING, ServiceState.PAUSED)
        body = Readiness(ready=ready, state=state)
        return JSONResponse(body.model_dump(mode="json"), 200 if ready else 503)

    @app.get("/v1/status", response_model=ServiceStatus, tags=["inspect"])
    async def status() -> Response:
        """The whole service: state, trainers (with their last metrics), buffers."""
        return _json(service.status())

    @app.get("/v1/trainers", response_model=TrainerList, tags=["inspect"])
    async def trainers() -> Response:
        """Every trainer's status."""
        return _json(TrainerList(trainers=service.status().trainers))

    @app.get("/v1/trainers/{name}", response_model=TrainerDetail, tags=["inspect"])
    async def trainer(
        name: str = Path(description="The trainer's name."),
    ) -> Response:
        """One trainer's status, metric history and run records."""
        statuses = service.status().trainers
        if name not in statuses:
            raise _unknown("trainer", name, statuses)
        recorder = service.trainers[name].metrics
        detail = TrainerDetail(
            name=name,
            status=statuses[name],
            history=[
                MetricPointModel(run=p.run, time=p.time, values=dict(p.values))
                for p in recorder.history()
            ],
            runs=[
                RunRecordModel(
                    run=r.run,
                    started=r.started,
                    duration=r.duration,
                    outcome=r.outcome,
                    new_items=dict(r.new_items),
                )
                for r in recorder.runs()
            ],
        )
        return _json(detail)

    @app.post("/v1/pause", response_model=StateChange, tags=["control"])
    async def pause(
        wait: float = Query(
            30.0,
            alias="timeout",
            gt=0,
            le=3600,
            description="Seconds to wait for runs in flight.",
        ),
    ) -> StateChange:
        """Pause; answer once no run is in flight (409 naming the runs still
        going if they take longer than ``timeout``; the service then goes on).
        As for ``service.pause(timeout=...)``, the bound is on the runs in
        flight; a save or another pause in progress is waited for first."""
        try:
            await service.pause(timeout=wait)
        except PauseTimeoutError as exc:
            raise HTTPException(409, _pause_timeout_message(wait, exc)) from None
        if service.state is not ServiceState.PAUSED:
            raise HTTPException(
                409, f"cannot pause: the service is {service.state.value}"
            )
        return StateChange(state=service.state)

    @app.post("/v1/resume", response_model=StateChange, tags=["control"])
    async def resume() -> StateChange:
        """Resume after a pause; answer once runs may start again."""
        await service.resume()
        if service.state is not ServiceState.RUNNING:
            raise HTTPException(
                409, f"cannot resume: the service is {service.state.value}"
            )
        return StateChange(state=service.state)

    @app.post("/v1/save", response_model=SaveResult, tags=["control"])
    async def save() -> SaveResult:
        """Write a checkpoint; answer with its path once it is on disk."""
        try:
            path = await service.save_state()
        except CheckpointSaveError as exc:
            raise HTTPException(503, str(exc)) from None
        return SaveResult(path=str(path))

    @app.post(
        "/v1/shutdown", response_model=StateChange, status_code=202, tags=["control"]
    )
    async def shutdown(background: BackgroundTasks) -> StateChange:
        """Stop gracefully: runs in flight finish, a final checkpoint is saved."""
        if service.state is ServiceState.CREATED:
            raise HTTPException(409, "cannot shut down: the service has not started")
        if service.state is not ServiceState.STOPPED:
            background.add_task(service.stop)
        return StateChange(
            state=ServiceState.STOPPING
            if service.state is not ServiceState.STOPPED
            else ServiceState.STOPPED
        )

    @app.post(
        "/v1/data/{buffer}",
        response_model=IngestResult,
        tags=["data"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": {}}},
                            "required": ["items"],
                            "additionalProperties": False,
                        }
                    },
                    **{
                        media: {"schema": {"type": "string", "format": "binary"}}
                        for media in sorted(MSGPACK_TYPES)[:1]
                    },
                },
            }
        },
    )
    async def ingest(
        request: Request, buffer: str = Path(description="The buffer's name.")
    ) -> IngestResult:
        """Collect a batch ``{"items": [...]}`` (JSON, or msgpack with
        ``Content-Type: application/msgpack``) into the buffer's collector."""
        users = service.data_users
        if buffer not in users:
            raise _unknown("buffer", buffer, users)
        items = await read_batch(request, adapters.get(buffer))
        if service.state in (ServiceState.STOPPING, ServiceState.STOPPED):
            # the final checkpoint is taken (or being taken): they would be lost
            raise ServiceStateError(
                f"cannot collect into {buffer!r}: the service is "
                f"{service.state.value}; items collected now would not be saved"
            )
        collector = users[buffer].collector
        before = collector.dropped
        collect = collector.collect
        for item in items:
            collect(item)
        dropped = min(len(items), max(0, collector.dropped - before))
        return IngestResult(buffer=buffer, accepted=len(items), dropped=dropped)

    @app.get(
        "/v1/events",
        tags=["inspect"],
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": "Server-sent events.",
            }
        },
    )
    async def events() -> StreamingResponse:
        """The service's events as server-sent events; the stream ends when the
        service begins to stop."""
        return StreamingResponse(
            streams.body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get(
        "/metrics",
        tags=["inspect"],
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE: {}},
                "description": "Prometheus text format.",
            }
        },
    )
    async def prometheus() -> Response:
        """Prometheus metrics of the service, its trainers and buffers."""
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return app
