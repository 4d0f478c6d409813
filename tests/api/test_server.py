"""serve(): uvicorn in the caller's task group; the token and bind rules."""

from __future__ import annotations

import socket
from functools import partial

import anyio
import httpx
import pytest
from api_harness import served
from fastapi import FastAPI

from aiotrainer import SequentialBuffer, TrainerService
from aiotrainer.api import InsecureBindError, bind, create_app, is_loopback, serve
from helpers import DEADLINE, NoopTrainer


def service() -> TrainerService:
    return TrainerService(
        buffers={"buf": SequentialBuffer(10)}, trainers={"t": NoopTrainer("buf", 1, 1)}
    )


class TestToken:
    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2VjcmV0"}],
        ids=["none", "wrong", "basic"],
    )
    async def test_every_endpoint_but_health_needs_the_token(
        self, headers: dict[str, str]
    ) -> None:
        endpoints = [
            ("GET", "/v1/status"),
            ("GET", "/v1/trainers/t"),
            ("GET", "/metrics"),
            ("GET", "/v1/events"),
            ("GET", "/openapi.json"),
            ("POST", "/v1/pause"),
            ("POST", "/v1/save"),
            ("POST", "/v1/shutdown"),
            ("POST", "/v1/data/buf"),
            ("GET", "/v2/unknown"),
        ]
        svc = service()
        async with svc, served(svc, token="secret") as api:
            async with httpx.AsyncClient(base_url=api.url, headers=headers) as raw:
                for method, path in endpoints:
                    response = await raw.request(method, path, json={"items": [1]})
                    assert response.status_code == 401, path
                    assert response.headers["www-authenticate"] == "Bearer"
                    assert response.json()["error"] == "unauthorized"
            assert svc.state == "running"
            assert svc.data_users["buf"].collector.collected == 0

    async def test_health_is_open_and_the_token_opens_the_rest(self) -> None:
        svc = service()
        async with svc, served(svc, token="secret") as api:
            async with httpx.AsyncClient(base_url=api.url) as raw:
                assert (await raw.get("/healthz")).status_code == 200
                assert (await raw.get("/readyz")).status_code == 200
            assert (await api.client.get("/v1/status")).status_code == 200
            assert (await api.client.get("/openapi.json")).status_code == 200


class TestCors:
    async def test_no_cors_headers_unless_configured(self) -> None:
        origin = {"Origin": "http://example.test"}
        svc = service()
        async with svc, served(svc) as api:
            plain = await api.client.get("/healthz", headers=origin)
        assert "access-control-allow-origin" not in plain.headers
        svc = service()
        async with svc, served(svc, cors_origins=["http://example.test"]) as api:
            allowed = await api.client.get("/healthz", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "http://example.test"


class TestServe:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("127.0.0.1", True),
            ("127.8.0.1", True),
            ("::1", True),
            ("localhost", True),
            ("0.0.0.0", False),
            ("192.168.1.4", False),
            ("example.com", False),
        ],
    )
    def test_is_loopback(self, host: str, expected: bool) -> None:
        assert is_loopback(host) is expected

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1"])
    async def test_non_loopback_without_token_is_refused(self, host: str) -> None:
        app = create_app(service())
        with pytest.raises(
            InsecureBindError, match=f"refusing to serve .* on '{host}'"
        ):
            await serve(app, host=host, port=0)

    async def test_non_loopback_with_a_token_is_served(self) -> None:
        svc = service()
        app = create_app(svc, token="secret")
        async with svc, anyio.create_task_group() as tg:
            port = await tg.start(partial(serve, app, host="0.0.0.0", port=0))
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{port}/healthz")
            tg.cancel_scope.cancel()
        assert response.status_code == 200

    @pytest.mark.parametrize("port", [-1, 65536, 1.5, True], ids=str)
    async def test_bad_port(self, port: object) -> None:
        with pytest.raises(ValueError, match="port must be an int in 0..65535"):
            await serve(create_app(service()), port=port)  # type: ignore[arg-type]

    async def test_a_port_in_use_raises_oserror(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(OSError):
                await serve(create_app(service()), port=port)

    async def test_cancelling_the_task_group_stops_the_server(self) -> None:
        svc = service()
        app = create_app(svc)
        async with svc:
            with anyio.fail_after(DEADLINE):
                async with anyio.create_task_group() as tg:
                    port = await tg.start(partial(serve, app, port=0))
                    async with httpx.AsyncClient() as client:
                        ok = await client.get(f"http://127.0.0.1:{port}/healthz")
                    tg.cancel_scope.cancel()
            assert ok.status_code == 200
            with pytest.raises(httpx.ConnectError):
                async with httpx.AsyncClient() as client:
                    await client.get(f"http://127.0.0.1:{port}/healthz")


class TestBoundBeforehand:
    async def test_serve_takes_a_socket_from_bind_and_closes_it(self) -> None:
        svc = service()
        sock = bind("127.0.0.1", 0)
        bound = sock.getsockname()[1]
        async with svc:
            with anyio.fail_after(DEADLINE):
                async with anyio.create_task_group() as tg:
                    port = await tg.start(partial(serve, create_app(svc), sock=sock))
                    async with httpx.AsyncClient() as client:
                        ok = await client.get(f"http://127.0.0.1:{port}/healthz")
                    tg.cancel_scope.cancel()
        assert port == bound
        assert ok.status_code == 200
        assert sock.fileno() == -1  # closed

    async def test_a_socket_with_host_or_port_is_refused_and_closed(self) -> None:
        sock = bind("127.0.0.1", 0)
        with pytest.raises(ValueError, match="pass either sock .* or host and port"):
            await serve(create_app(service()), sock=sock, port=0)
        assert sock.fileno() == -1

    async def test_a_public_socket_without_a_token_is_refused_and_closed(
        self,
    ) -> None:
        sock = bind("0.0.0.0", 0)
        with pytest.raises(InsecureBindError, match="on '0.0.0.0'"):
            await serve(create_app(service()), sock=sock)
        assert sock.fileno() == -1

    def test_bind_a_busy_port_raises_oserror(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(OSError, match="in use"):
                bind("127.0.0.1", taken.getsockname()[1])

    @pytest.mark.parametrize("port", [-1, 65536, 1.5, True], ids=str)
    def test_bind_a_bad_port(self, port: object) -> None:
        with pytest.raises(ValueError, match="port must be an int in 0..65535"):
            bind("127.0.0.1", port)  # type: ignore[arg-type]


class TestMounted:
    async def test_mounted_in_a_user_app_keeps_its_rules(self) -> None:
        svc = service()
        outer = FastAPI()

        @outer.get("/own")
        async def own() -> dict[str, str]:
            return {"mine": "yes"}

        outer.mount("/trainer", create_app(svc, token="secret"))
        async with svc, anyio.create_task_group() as tg:
            port = await tg.start(partial(serve, outer, port=0))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as raw:
                assert (await raw.get("/own")).json() == {"mine": "yes"}
                assert (await raw.get("/trainer/healthz")).status_code == 200
                assert (await raw.get("/trainer/v1/status")).status_code == 401
                authorized = await raw.get(
                    "/trainer/v1/status", headers={"Authorization": "Bearer secret"}
                )
                missing = await raw.get(
                    "/trainer/nope", headers={"Authorization": "Bearer secret"}
                )
            tg.cancel_scope.cancel()
        assert authorized.json()["state"] == "running"
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
