"""GET /v1/events: server-sent events that end when shutdown begins."""

from __future__ import annotations

import json
import threading
from functools import partial

import anyio
import httpx
from api_harness import logging_service, served

from aiotrainer import EventKind
from aiotrainer.api import create_app, serve
from helpers import (
    DEADLINE,
    InstrumentedTrainer,
    Journal,
    block_on,
    make_service,
    next_event,
)


class TestEventStream:
    async def test_events_flow_and_the_stream_ends_when_shutdown_begins(self) -> None:
        service = logging_service()
        async with service, served(service) as api:
            with anyio.fail_after(DEADLINE):
                async with api.client.stream("GET", "/v1/events") as response:
                    assert response.headers["content-type"].startswith(
                        "text/event-stream"
                    )
                    lines = response.aiter_lines()
                    assert await anext(lines) == ": aiotrainer events"
                    await api.client.post("/v1/data/buf", json={"items": [1]})
                    seen: list[str] = []
                    async for line in lines:
                        if line.startswith("event: "):
                            seen.append(line[7:])
                        if line.startswith("data: ") and seen[-1] == "metrics":
                            data = json.loads(line[6:])
                            assert data["metrics"] == {
                                "loss": 0.25,
                                "nan": "nan",
                                "inf": "inf",
                            }
                            assert data["trainer"] == "t" and data["run"] == 1
                            await api.client.post("/v1/shutdown")
                    # the loop ended: the server closed the stream by itself
            assert seen[:3] == ["started", "metrics", "finished"]
            assert seen[-1] == "service_stopping"

    async def test_a_stream_opened_while_stopping_ends_at_once(self) -> None:
        release = threading.Event()
        journal = Journal()
        trainer = InstrumentedTrainer("slow", journal, body=block_on(release))
        service = make_service(trainer)
        try:
            async with service, served(service) as api:
                await journal.wait_count("slow", "blocking", 1)
                events = service.events()
                await api.client.post("/v1/shutdown")
                await next_event(events, EventKind.SERVICE_STOPPING)
                with anyio.fail_after(DEADLINE):
                    response = await api.client.get("/v1/events")
                assert response.status_code == 200
                assert response.text == ""
                assert service.state == "stopping"  # the run still holds it
                release.set()
        finally:
            release.set()

    async def test_stopping_the_server_ends_open_streams_promptly(self) -> None:
        service = logging_service()
        app = create_app(service)
        ended = anyio.Event()
        async with service:
            with anyio.fail_after(DEADLINE):
                async with anyio.create_task_group() as tg:
                    port = await tg.start(partial(serve, app, port=0))
                    url = f"http://127.0.0.1:{port}/v1/events"
                    async with (
                        httpx.AsyncClient() as client,
                        client.stream("GET", url) as response,
                    ):
                        lines = response.aiter_lines()
                        assert await anext(lines) == ": aiotrainer events"
                        assert app.state.aiotrainer.event_streams.open == 1
                        tg.cancel_scope.cancel()  # stop the server, not the service
                        with anyio.CancelScope(shield=True):
                            assert [line async for line in lines if line] == []
                            ended.set()
            assert ended.is_set()
            assert service.state == "running"
            assert app.state.aiotrainer.event_streams.open == 0
