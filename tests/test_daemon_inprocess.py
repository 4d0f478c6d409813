"""The Daemon class in-process: the order of start and stop, add-ons, max_runs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import pytest

from aiotrainer import ServiceState, StateDirLock, StateDirLockedError, TrainerService
from aiotrainer.config import ConfigError, ServiceConfig, load_config
from aiotrainer.daemon import Daemon, StopReason, serve_api

DEMO = Path(__file__).parents[1] / "configs" / "demo.yaml"


def _demo(tmp_path: Path, *overrides: str) -> ServiceConfig:
    return load_config(
        DEMO,
        overrides=[f"state.dir={tmp_path}", "run.max_uptime=null", *overrides],
        environ={},
    )


async def test_add_ons_run_beside_the_service_and_stop_after_it(tmp_path: Path) -> None:
    seen: list[str] = []

    async def add_on(service: TrainerService, config: ServiceConfig) -> None:
        seen.append(f"started while {service.state.value}")
        try:
            await anyio.sleep_forever()
        finally:
            seen.append(f"cancelled when {service.state.value}")

    daemon = Daemon(
        _demo(tmp_path, "run.max_runs=3"), handle_signals=False, add_ons=[add_on]
    )
    with anyio.fail_after(30):
        result = await daemon.run()
    assert seen == ["started while running", "cancelled when stopped"]
    assert result.reason is StopReason.MAX_RUNS
    assert result.exit_code == 0
    assert sum(t.runs for t in result.status.trainers.values()) >= 3
    assert result.status.state is ServiceState.STOPPED
    assert result.status.last_checkpoint is not None  # the final save
    assert result.metrics["sgd"]["loss"] >= 0


async def test_request_stop_stops_it_and_releases_the_lock(tmp_path: Path) -> None:
    running = anyio.Event()

    async def signal_running(service: TrainerService, config: ServiceConfig) -> None:
        running.set()

    daemon = Daemon(_demo(tmp_path), handle_signals=False, add_ons=[signal_running])
    results = []

    async def run() -> None:
        results.append(await daemon.run())

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await running.wait()
            with pytest.raises(StateDirLockedError, match=f"process {os.getpid()}"):
                StateDirLock(tmp_path).acquire()  # the daemon holds it
            daemon.request_stop(StopReason.REQUESTED, "by the test")
    (result,) = results
    assert (result.reason, result.detail) == (StopReason.REQUESTED, "by the test")
    with StateDirLock(tmp_path) as lock:  # released
        assert lock.held


async def test_a_stop_requested_before_run_stops_it_before_it_starts(
    tmp_path: Path,
) -> None:
    daemon = Daemon(_demo(tmp_path), handle_signals=False)
    daemon.request_stop(StopReason.REQUESTED, "early")
    with anyio.fail_after(30):
        result = await daemon.run()
    assert result.detail == "early"
    assert result.status.state is ServiceState.STOPPED
    assert result.status.last_checkpoint is None  # nothing ran, nothing saved
    assert result.uptime == 0.0


async def test_an_address_not_on_this_machine_is_a_problem_with_the_host(
    tmp_path: Path,
) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here; it used to blame api.port.
    config = _demo(
        tmp_path, "api.enabled=true", "api.host=192.0.2.1", "api.token=t", "api.port=0"
    )
    with anyio.fail_after(30), pytest.raises(ConfigError) as info:
        await Daemon(config, handle_signals=False).run()
    (problem,) = info.value.problems
    assert problem.startswith("api.host: cannot listen on 192.0.2.1:0: ")


class TestServeApi:
    """``serve_api(sock=...)`` closes the socket it is given on every way out."""

    async def test_the_socket_is_closed_when_the_app_cannot_be_made(
        self, tmp_path: Path
    ) -> None:
        config = _demo(tmp_path)
        sock = socket.create_server(("127.0.0.1", 0))
        with anyio.fail_after(30), pytest.raises(ValueError, match="token must be"):
            await serve_api(config.build_service(), config, token="", sock=sock)
        assert sock.fileno() == -1

    async def test_the_socket_is_closed_when_cancelled_before_serving(
        self, tmp_path: Path
    ) -> None:
        config = _demo(tmp_path)
        sock = socket.create_server(("127.0.0.1", 0))
        with anyio.fail_after(30), anyio.CancelScope() as scope:
            scope.cancel()
            await serve_api(config.build_service(), config, sock=sock)
        assert scope.cancelled_caught
        assert sock.fileno() == -1
