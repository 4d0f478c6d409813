"""What the service reports as it works: events, and their fan-out to subscribers."""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import anyio

__all__ = ["EventKind", "EventStream", "ServiceEvent"]


class EventKind(enum.StrEnum):
    """The kinds of :class:`ServiceEvent`."""

    STARTED = "started"
    """A trainer's run started."""
    FINISHED = "finished"
    """A trainer's run finished (``trained`` says whether it was trainable;
    ``new_items``: items collected per data user since its previous run)."""
    FAILED = "failed"
    """A trainer's run raised (``error``; ``action`` is what the policy did)."""
    PAUSED = "paused"
    """``pause()`` took effect: no run is in flight, ``on_paused()`` hooks ran."""
    RESUMED = "resumed"
    """``resume()`` took effect: ``on_resumed()`` hooks ran, runs may start."""
    METRICS = "metrics"
    """A run logged metrics (``metrics``: the last value of each, ``run``)."""
    SAVED = "saved"
    """A checkpoint was written (``path``; ``duration``: the whole save)."""
    SAVE_FAILED = "save_failed"
    """A checkpoint could not be written (``error`` says why)."""
    SAVE_SKIPPED = "save_skipped"
    """A checkpoint was not attempted, to keep what is saved sound (``error``
    says why, e.g. a run abandoned at shutdown still holds its models)."""
    SERVICE_STARTED = "service_started"
    """The service is running; it comes before any trainer's event."""
    SERVICE_STOPPING = "service_stopping"
    """Shutdown began: nothing new is dispatched, runs in flight finish."""
    SERVICE_STOPPED = "service_stopped"
    """The service has stopped (after the final checkpoint); the last event."""


@dataclass(frozen=True)
class ServiceEvent:
    """One thing that happened in the service.

    Fields that do not apply to the :attr:`kind` are ``None`` (and left out of
    :meth:`to_dict`).
    """

    kind: EventKind
    """What happened."""
    trainer: str | None = None
    """The trainer's name, for ``started``, ``finished`` and ``failed``."""
    time: float = field(default_factory=time.time)
    """When it happened, a ``time.time()`` value (a run's start or end)."""
    duration: float | None = None
    """Seconds: the run's, for ``finished``; the whole save's, for ``saved``."""
    trained: bool | None = None
    """For ``finished``: whether the run trained (``run()`` returned True) or found
    the trainer not trainable after all."""
    error: str | None = None
    """For ``failed`` and ``save_failed``: ``"ExceptionType: message"``."""
    action: str | None = None
    """For ``failed``: what the error policy did, ``"stop"``, ``"retry"`` or
    ``"disable"``."""
    path: str | None = None
    """For ``saved``: the checkpoint directory."""
    run: int | None = None
    """For ``metrics``: the number of the run that logged them."""
    metrics: Mapping[str, float] | None = None
    """For ``metrics``: the last value logged for each metric in that run
    (:meth:`Trainer.log_metrics`)."""
    new_items: Mapping[str, int] | None = None
    """For ``finished``: items collected per data user since the trainer's
    previous run."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, without the fields that are ``None``."""
        out: dict[str, Any] = {"kind": self.kind.value, "time": self.time}
        for key in ("trainer", "duration", "trained", "error", "action", "path", "run"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.metrics is not None:
            out["metrics"] = dict(self.metrics)
        if self.new_items is not None:
            out["new_items"] = dict(self.new_items)
        return out


class EventStream:
    """An async iterator over the service's events from the moment it was opened.

    Ends when the service has stopped (after the events still buffered). A
    subscriber that falls more than ``max_buffer`` events behind loses the oldest
    ones, counted in :attr:`dropped`; the service never waits for a subscriber.
    """

    def __init__(self, hub: EventHub, max_buffer: int) -> None:
        self._hub = hub
        self._buffer: deque[ServiceEvent] = deque()
        self._max_buffer = max_buffer
        self._ready = anyio.Event()
        self._ended = False
        self.dropped = 0
        """Events lost because this subscriber fell behind."""

    def _offer(self, event: ServiceEvent) -> None:
        if self._ended:
            return
        if len(self._buffer) >= self._max_buffer:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        self._ready.set()

    def _end(self) -> None:
        self._ended = True
        self._ready.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServiceEvent:
        while not self._buffer:
            if self._ended:
                self._hub.unsubscribe(self)
                raise StopAsyncIteration
            if self._ready.is_set():
                self._ready = anyio.Event()
            await self._ready.wait()
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop receiving events; buffered ones are discarded. Idempotent."""
        self._hub.unsubscribe(self)
        self._buffer.clear()
        self._end()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class EventHub:
    """Fans events out to every open :class:`EventStream` (on the loop thread)."""

    def __init__(self, max_buffer: int = 1024) -> None:
        self._streams: list[EventStream] = []
        self._max_buffer = max_buffer
        self._closed = False

    def subscribe(self) -> EventStream:
        """Open a stream; if the hub has closed, the stream ends at once."""
        return self.subscribe_with(self._max_buffer)

    def subscribe_with(self, max_buffer: int) -> EventStream:
        """Open a stream with its own buffer size."""
        stream = EventStream(self, max_buffer)
        if self._closed:
            stream._end()
        else:
            self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        """Forget ``stream``; unknown streams are ignored."""
        if stream in self._streams:
            self._streams.remove(stream)

    def listening(self) -> bool:
        """Whether any stream is open (events need be made only then)."""
        return bool(self._streams)

    def emit(self, event: ServiceEvent) -> None:
        """Offer ``event`` to every stream, never blocking."""
        for stream in list(self._streams):
            stream._offer(event)

    def close(self) -> None:
        """End every stream (after they drain) and refuse new ones."""
        self._closed = True
        for stream in self._streams:
            stream._end()
        self._streams.clear()
