"""``/v1/events``: the service's events as server-sent events.

Every stream ends when the service begins to stop (after sending that event),
when the service has stopped, or when the server shuts down
(:meth:`EventStreams.close_all`), so a graceful shutdown never waits on one.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..events import EventKind, EventStream, ServiceEvent
from ..service import TrainerService
from ..status import ServiceState

__all__ = ["EventStreams", "encode_event"]

PING_INTERVAL = 15.0
"""Seconds between keep-alive comments on a quiet stream (they also let the
server notice a client that went away)."""

_ENDING = frozenset({EventKind.SERVICE_STOPPING, EventKind.SERVICE_STOPPED})


def _scalar(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def event_json(event: ServiceEvent) -> dict[str, Any]:
    """The event as a JSON-ready dict (NaN and infinities as strings)."""
    data = event.to_dict()
    if "metrics" in data:
        data["metrics"] = {k: _scalar(v) for k, v in data["metrics"].items()}
    return data


def encode_event(event: ServiceEvent, event_id: int) -> bytes:
    """One SSE message: ``id``, ``event`` (the kind) and ``data`` (JSON)."""
    data = json.dumps(event_json(event), separators=(",", ":"))
    return f"id: {event_id}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


class EventStreams:
    """The SSE streams an app has open, so that shutdown can end them all."""

    def __init__(self, service: TrainerService) -> None:
        self._service = service
        self._open: set[EventStream] = set()
        self._closed = False
        self._changed: anyio.Event | None = None

    @property
    def open(self) -> int:
        """Streams open now."""
        return len(self._open)

    async def wait_open(self, count: int) -> None:
        """Return once at least ``count`` streams are open."""
        while len(self._open) < count:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    def _opened(self, stream: EventStream) -> None:
        self._open.add(stream)
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def close_all(self) -> None:
        """End every open stream and every later one at once. Idempotent."""
        self._closed = True
        for stream in list(self._open):
            await stream.aclose()

    async def body(self) -> AsyncIterator[bytes]:
        """The bytes of one client's stream."""
        if self._closed or self._service.state in (
            ServiceState.STOPPING,
            ServiceState.STOPPED,
        ):
            return
        stream = self._service.events()
        self._opened(stream)
        try:
            yield b": aiotrainer events\n\n"
            event_id = 0
            while True:
                event = None
                with anyio.move_on_after(PING_INTERVAL):
                    try:
                        event = await stream.__anext__()
                    except StopAsyncIteration:
                        return
                if event is None:
                    yield b": ping\n\n"
                    continue
                event_id += 1
                yield encode_event(event, event_id)
                if event.kind in _ENDING:
                    return
        finally:
            self._open.discard(stream)
            await stream.aclose()
