"""The client and the CLI commands, from other processes, against a real server.

Each command runs as ``python -m aiotrainer.cli ...`` in a subprocess, as an
operator's shell would run it.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from functools import partial
from pathlib import Path

import anyio
import pytest
from api_harness import logging_service, served
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse

from aiotrainer import EventKind, SequentialBuffer, TrainerService
from aiotrainer.api import serve
from aiotrainer.api.client import ApiClient
from helpers import DEADLINE, NoopTrainer, next_event

PROCESS_DEADLINE = 30.0
"""Seconds a subprocess may take (it imports aiotrainer first)."""


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    with anyio.fail_after(PROCESS_DEADLINE):
        done = await anyio.run_process(
            [sys.executable, "-m", "aiotrainer.cli", *args],
            check=False,
            env={**os.environ, **(env or {})},
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class TestIngestionFromAnotherProcess:
    async def test_a_producer_process_posts_json_and_msgpack(self) -> None:
        producer = textwrap.dedent(
            """
            import sys
            from aiotrainer.api.client import ApiClient
            with ApiClient(sys.argv[1], token="s3") as api:
                a = api.ingest("buf", [{"x": i} for i in range(10)])
                b = api.ingest("buf", [b"raw"] * 5, msgpack=True)
                print(a.accepted, b.accepted, a.dropped + b.dropped)
            """
        )
        service = logging_service()
        async with service, served(service, token="s3") as api:
            with anyio.fail_after(PROCESS_DEADLINE):
                done = await anyio.run_process(
                    [sys.executable, "-c", producer, api.url]
                )
            assert done.stdout.decode().split() == ["10", "5", "0"]
            assert service.status().buffers["buf"].collected == 15


class TestClient:
    async def test_every_call_from_another_process(self) -> None:
        script = textwrap.dedent(
            """
            import sys
            from aiotrainer.api import RequestError
            from aiotrainer.api.client import ApiClient
            with ApiClient(sys.argv[1]) as api:
                print(api.status().state.value)
                print(sorted(api.trainers().trainers))
                print(api.trainer("t").name)
                for call in (lambda: api.trainer("x"), lambda: api.ingest("x", [1])):
                    try:
                        call()
                    except RequestError as exc:
                        print(exc.status_code, exc.message)
                print(api.pause(5).value, api.resume().value)
            """
        )
        service = logging_service()
        async with service, served(service) as api:
            with anyio.fail_after(PROCESS_DEADLINE):
                done = await anyio.run_process([sys.executable, "-c", script, api.url])
        assert done.stdout.decode().splitlines() == [
            "running",
            "['t']",
            "t",
            "404 no trainer named 'x'; expected one of: 't'",
            "404 no buffer named 'x'; expected one of: 'buf'",
            "paused running",
        ]

    async def test_names_with_url_characters_are_reachable(self) -> None:
        # httpx.URL(path="a?b #c%") raised InvalidURL: such names, valid in a
        # config, could not be fed or inspected from the client.
        script = textwrap.dedent(
            """
            import sys
            from aiotrainer.api.client import ApiClient
            with ApiClient(sys.argv[1]) as api:
                print(api.ingest("a?b #c%", [1, 2]).buffer)
                print(api.trainer("t?x").name)
            """
        )
        service = TrainerService(
            buffers={"a?b #c%": SequentialBuffer(10)}, trainers={"t?x": NoopTrainer()}
        )
        async with service, served(service) as api:
            with anyio.fail_after(PROCESS_DEADLINE):
                done = await anyio.run_process([sys.executable, "-c", script, api.url])
            assert service.status().buffers["a?b #c%"].collected == 2
        assert done.stdout.decode().splitlines() == ["a?b #c%", "t?x"]

    @pytest.mark.parametrize(
        "url", ["ftp://example.test", "http://[::1", "http://127.0.0.1:99999"]
    )
    def test_bad_url_is_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match="url must be an http.s. URL with a host"):
            ApiClient(url)


class TestCli:
    async def test_status_pause_resume_save_shutdown(self, tmp_path: Path) -> None:
        service = logging_service(state_dir=tmp_path)
        async with service, served(service, token="tok") as api:
            env = {"AIOTRAINER_URL": api.url, "AIOTRAINER_TOKEN": "tok"}
            code, out, _ = await cli("status", "--json", env=env)
            assert code == 0 and json.loads(out)["state"] == "running"
            code, out, _ = await cli("status", env=env)
            assert code == 0 and "state: running" in out and "trainers" in out
            # says what it counts: a worker waiting in place runs nothing
            assert (
                "runs in flight: 0/1 workers (not counting workers waiting in "
                "place for data)" in " ".join(out.split())
            )
            code, out, _ = await cli("pause", "--timeout", "5", "--json", env=env)
            assert code == 0 and json.loads(out) == {"state": "paused"}
            assert service.state == "paused"
            code, out, _ = await cli("resume", env=env)
            assert code == 0 and out.strip() == "service running"
            code, out, _ = await cli("save", "--json", env=env)
            assert code == 0 and Path(json.loads(out)["path"]).parent == tmp_path
            code, out, _ = await cli("shutdown", env=env)
            assert code == 0 and out.strip() == "service stopping"
            with anyio.fail_after(DEADLINE):
                await service.stop()

    async def test_events_prints_until_the_service_stops(self) -> None:
        service = logging_service()
        result: list[tuple[int, str, str]] = []
        async with service, served(service) as api, anyio.create_task_group() as tg:

            async def follow() -> None:
                result.append(await cli("events", "--json", "--url", api.url))

            tg.start_soon(follow)
            with anyio.fail_after(PROCESS_DEADLINE):
                await api.app.state.aiotrainer.event_streams.wait_open(1)
            await api.client.post("/v1/shutdown")
        ((code, out, _),) = result
        kinds = [json.loads(line)["kind"] for line in out.splitlines()]
        assert code == 0 and kinds[-1] == "service_stopping"

    async def test_events_are_readable_lines_by_default(self) -> None:
        service = logging_service()
        result: list[tuple[int, str, str]] = []
        async with service, served(service) as api, anyio.create_task_group() as tg:

            async def follow() -> None:
                result.append(await cli("events", "--url", api.url))

            tg.start_soon(follow)
            with anyio.fail_after(PROCESS_DEADLINE):
                await api.app.state.aiotrainer.event_streams.wait_open(1)
            events = service.events()
            await api.client.post("/v1/data/buf", json={"items": [1]})
            await next_event(events, EventKind.FINISHED, "t")  # it ran
            await api.client.post("/v1/shutdown")
        ((code, out, _),) = result
        lines = out.splitlines()
        assert code == 0
        assert any(
            " metrics t run=1 metrics={'loss': 0.25, 'nan': 'nan', 'inf': 'inf'}"
            in line
            for line in lines
        ), out
        assert lines[-1].split()[1] == "service_stopping"

    async def test_refused_is_exit_1(self) -> None:
        service = logging_service()
        async with service, served(service, token="tok") as api:
            code, _, err = await cli("status", "--url", api.url, "--token", "bad")
            assert code == 1 and "HTTP 401: missing or wrong bearer token" in err
            code, _, err = await cli("save", "--url", api.url, "--token", "tok")
            assert code == 1 and "HTTP 409" in err and "no state_dir" in err

    async def test_unreachable_is_exit_3(self) -> None:
        code, _, err = await cli("status", "--url", "http://127.0.0.1:9")
        assert code == 3 and "cannot reach http://127.0.0.1:9" in err

    async def test_a_server_that_is_not_ours_is_exit_3_not_a_traceback(self) -> None:
        # --url pointing at another HTTP server: the client used to die with a
        # JSONDecodeError or a pydantic ValidationError traceback.
        other = FastAPI()

        @other.get("/v1/status")
        async def html() -> HTMLResponse:
            return HTMLResponse("<html>a wiki</html>")

        @other.post("/v1/resume")
        async def wrong_json() -> dict[str, str]:
            return {"state": "dancing"}

        @other.post("/v1/save")
        async def proxy_error() -> HTMLResponse:
            return HTMLResponse("<html><h1>502</h1>" + "x" * 500 + "</html>", 502)

        @other.get("/v1/events")
        async def not_sse() -> PlainTextResponse:
            return PlainTextResponse("data: 1\n\n")

        async with anyio.create_task_group() as tg:
            port = await tg.start(partial(serve, other, port=0))
            url = f"http://127.0.0.1:{port}"
            for command, problem in [
                ("status", "(JSONDecodeError: Expecting value"),
                ("resume", "(ValueError: 'dancing' is not a valid ServiceState)"),
                ("events", "(content type 'text/plain', not text/event-stream)"),
                ("save", None),
            ]:
                code, _, err = await cli(command, "--url", url)
                assert "Traceback" not in err
                if problem is None:  # a proxy's error page: its text not dumped
                    assert (code, err) == (
                        1,
                        (
                            "aiotrainer: refused: HTTP 502: Bad Gateway (the answer "
                            "is not JSON)\n"
                        ),
                    )
                    continue
                assert code == 3, err
                assert err.startswith(
                    f"aiotrainer: unreachable: {url}/v1/{command} "
                    "did not answer as an aiotrainer control API "
                )
                assert problem in err
            tg.cancel_scope.cancel()

    @pytest.mark.parametrize(
        "args",
        [
            ("status", "--url", "nope"),
            ("pause", "--timeout", "0"),
            ("status", "--bogus"),
        ],
        ids=["bad-url", "bad-timeout", "unknown-flag"],
    )
    async def test_usage_errors_are_exit_2(self, args: tuple[str, ...]) -> None:
        code, _, err = await cli(*args)
        assert code == 2 and "error" in err
