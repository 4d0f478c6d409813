"""What the service reports as it works: events, and their fan-out to subscribers."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Self

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["EventKind", "EventStream", "ServiceEvent"]


class EventKind(enum.StrEnum):
    """The kinds of :class:`ServiceEvent`."""

    STARTED = "started"
    """A trainer's run started."""
    FINISHED = "finished"
    """A trainer's run finished (``trained`` says whether it was trainable)."""
    FAILED = "failed"
    """A trainer's run raised (``error``; ``action`` is what the policy did)."""
    PAUSED = "paused"
    RESUMED = "resumed"
    SAVED = "saved"
    """A checkpoint was written (``path``)."""
    SAVE_FAILED = "save_failed"
    SERVICE_STARTED = "service_started"
    SERVICE_STOPPING = "service_stopping"
    SERVICE_STOPPED = "service_stopped"


@dataclass(frozen=True)
class ServiceEvent:
    """One thing that happened in the service."""

    kind: EventKind
    trainer: str | None = None
    time: float = field(default_factory=time.time)
    duration: float | None = None
    trained: bool | None = None
    error: str | None = None
    action: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, without the fields that are ``None``."""
        out: dict[str, Any] = {"kind": self.kind.value, "time": self.time}
        for key in ("trainer", "duration", "trained", "error", "action", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class EventStream:
    """An async iterator over the service's events from the moment it was opened.

    Ends when the service has stopped. A subscriber that falls more than
    ``max_buffer`` events behind loses the newest ones, counted in :attr:`dropped`;
    the service never waits for a subscriber.
    """

    def __init__(self, hub: EventHub, max_buffer: int) -> None:
        send, receive = anyio.create_memory_object_stream[ServiceEvent](max_buffer)
        self._hub = hub
        self._send: MemoryObjectSendStream[ServiceEvent] = send
        self._receive: MemoryObjectReceiveStream[ServiceEvent] = receive
        self.dropped = 0

    def _offer(self, event: ServiceEvent) -> None:
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._hub.unsubscribe(self)

    def _end(self) -> None:
        self._send.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServiceEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._hub.unsubscribe(self)
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop receiving events. Idempotent."""
        self._hub.unsubscribe(self)
        self._send.close()
        self._receive.close()

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
