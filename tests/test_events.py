"""Events: the hub's fan-out, and what a running service reports, in order."""

from __future__ import annotations

import threading

import anyio
import pytest

from aiotrainer import (
    EventKind,
    EventStream,
    ServiceEvent,
    TrainerFailedError,
)
from aiotrainer.events import EventHub
from helpers import (
    DEADLINE,
    InstrumentedTrainer,
    Journal,
    make_service,
    next_event,
    park_until,
)


async def drain(stream: EventStream) -> list[ServiceEvent]:
    """Every event until the stream ends (bounded)."""
    with anyio.fail_after(DEADLINE):
        return [event async for event in stream]


def started(trainer: str) -> ServiceEvent:
    return ServiceEvent(EventKind.STARTED, trainer=trainer, time=1.0)


class TestEventHub:
    async def test_a_stream_gets_the_events_in_order_and_ends_on_close(self) -> None:
        hub = EventHub()
        stream = hub.subscribe()
        sent = [started(str(i)) for i in range(5)]
        for event in sent:
            hub.emit(event)
        hub.close()
        assert await drain(stream) == sent
        assert stream.dropped == 0

    async def test_every_stream_gets_every_event(self) -> None:
        hub = EventHub()
        streams = [hub.subscribe() for _ in range(3)]
        hub.emit(started("a"))
        hub.emit(started("b"))
        hub.close()
        for stream in streams:
            assert [e.trainer for e in await drain(stream)] == ["a", "b"]

    async def test_a_full_stream_drops_the_oldest_and_counts_them(self) -> None:
        hub = EventHub()
        slow = hub.subscribe_with(2)
        fast = hub.subscribe()
        for i in range(5):
            hub.emit(started(str(i)))  # never blocks
        hub.close()
        assert [e.trainer for e in await drain(slow)] == ["3", "4"]
        assert slow.dropped == 3
        assert len(await drain(fast)) == 5
        assert fast.dropped == 0

    async def test_a_stream_opened_after_close_ends_at_once(self) -> None:
        hub = EventHub()
        hub.close()
        assert await drain(hub.subscribe()) == []

    async def test_a_closed_stream_leaves_the_hub(self) -> None:
        hub = EventHub()
        async with hub.subscribe() as stream:
            hub.emit(started("a"))
        await stream.aclose()  # idempotent
        hub.emit(started("b"))  # nobody listens: no error
        assert await drain(stream) == []
        other = hub.subscribe()
        hub.emit(started("c"))
        hub.close()
        assert [e.trainer for e in await drain(other)] == ["c"]

    def test_to_dict_leaves_out_what_is_unset(self) -> None:
        event = ServiceEvent(
            EventKind.FINISHED, trainer="t", time=2.0, duration=0.5, trained=True
        )
        assert event.to_dict() == {
            "kind": "finished",
            "time": 2.0,
            "trainer": "t",
            "duration": 0.5,
            "trained": True,
        }
        assert ServiceEvent(EventKind.PAUSED, time=3.0).to_dict() == {
            "kind": "paused",
            "time": 3.0,
        }


class TestServiceEvents:
    async def test_events_arrive_in_order_and_end_when_the_service_stops(
        self, journal: Journal
    ) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise RuntimeError("once is enough")

        learner = InstrumentedTrainer(
            "learner", journal, user="buf", min_new_data_count=1
        )
        bad = InstrumentedTrainer("bad", journal, body=boom)
        service = make_service(learner, bad, on_error={"bad": "disable"})
        stream = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                watcher = service.events()
                await next_event(watcher, EventKind.FAILED, "bad")
                collector = service.data_collectors.acquire("buf")
                for n in range(3):
                    collector.collect(n)
                    await next_event(watcher, EventKind.FINISHED, "learner")
                await service.pause()
                collector.collect(3)  # would run "learner", were it not paused
                await service.resume()
                await next_event(watcher, EventKind.FINISHED, "learner")
        events = await drain(stream)
        kinds = [e.kind for e in events]
        assert kinds[0] is EventKind.SERVICE_STARTED
        assert kinds[-2:] == [EventKind.SERVICE_STOPPING, EventKind.SERVICE_STOPPED]
        assert [e.kind for e in events if e.trainer == "bad"] == [
            EventKind.STARTED,
            EventKind.FAILED,
        ]
        failed = next(e for e in events if e.kind is EventKind.FAILED)
        assert (failed.action, failed.error) == (
            "disable",
            "RuntimeError: once is enough",
        )
        learner_events = [e for e in events if e.trainer == "learner"]
        assert [e.kind for e in learner_events] == [
            EventKind.STARTED,
            EventKind.FINISHED,
        ] * 4
        for event in learner_events:
            if event.kind is EventKind.FINISHED:
                assert event.trained is True
                assert event.duration is not None and event.duration >= 0
        # nothing started between PAUSED and RESUMED, and they came once each
        paused = kinds.index(EventKind.PAUSED)
        resumed = kinds.index(EventKind.RESUMED)
        assert paused < resumed
        assert kinds.count(EventKind.PAUSED) == kinds.count(EventKind.RESUMED) == 1
        assert EventKind.STARTED not in kinds[paused:resumed]
        times = [e.time for e in events]
        assert times == sorted(times)
        assert stream.dropped == 0

    async def test_a_stop_failure_is_reported_before_the_stream_ends(
        self, journal: Journal
    ) -> None:
        def boom(trainer: InstrumentedTrainer) -> None:
            raise RuntimeError("fatal")

        service = make_service(InstrumentedTrainer("bad", journal, body=boom))
        stream = service.events()
        with (
            anyio.fail_after(DEADLINE),
            pytest.raises(TrainerFailedError, match="fatal"),
        ):
            async with service:
                await anyio.sleep_forever()
        kinds = [(e.kind, e.action) for e in await drain(stream)]
        assert kinds == [
            (EventKind.SERVICE_STARTED, None),
            (EventKind.STARTED, None),
            (EventKind.FAILED, "stop"),
            (EventKind.SERVICE_STOPPING, None),
            (EventKind.SERVICE_STOPPED, None),
        ]

    async def test_a_pause_with_a_parked_run_is_reported_once_parked(
        self, journal: Journal
    ) -> None:
        release = threading.Event()
        # one item, one run: an always-trainable trainer would chain more runs
        # after the parked one before the stop is seen
        long = InstrumentedTrainer(
            "long", journal, user="buf", min_new_data_count=1, body=park_until(release)
        )
        service = make_service(long)
        stream = service.events()
        try:
            with anyio.fail_after(DEADLINE):
                async with service:
                    service.data_collectors.acquire("buf").collect(0)
                    await journal.wait_count("long", "step", 1)
                    await service.pause()
                    await service.resume()
                    release.set()
        finally:
            release.set()
        kinds = [e.kind for e in await drain(stream)]
        # the one run started before the pause and finished after the resume
        assert kinds[:4] == [
            EventKind.SERVICE_STARTED,
            EventKind.STARTED,
            EventKind.PAUSED,
            EventKind.RESUMED,
        ]
        assert kinds.count(EventKind.STARTED) == 1
        assert EventKind.FINISHED in kinds[4:]

    async def test_a_stream_opened_after_the_service_stopped_ends_at_once(
        self, journal: Journal
    ) -> None:
        service = make_service(InstrumentedTrainer("t", journal, user="buf"))
        with anyio.fail_after(DEADLINE):
            async with service:
                pass
        assert await drain(service.events()) == []
