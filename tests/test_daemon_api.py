"""``aiotrainer run`` with the HTTP API on, driven by the CLI client, in subprocesses."""

from __future__ import annotations

import json
import re
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotrainer.api.client import ApiClient
from test_daemon import DEMO, Daemon, _checkpoints, _cli

pytestmark = pytest.mark.timeout(120)

API = ["--set", "api.enabled=true", "--set", "api.port=0", "--set", "run.max_uptime=60"]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    proc = Daemon(DEMO, "--set", f"state.dir={tmp_path}", *API)
    try:
        proc.wait_for("HTTP API on http://")
        match = re.search(r"HTTP API on (http://127\.0\.0\.1:\d+)", proc.output)
        assert match, proc.output
        yield proc, match[1]
    finally:
        proc.kill()


class TestDaemonApi:
    def test_the_cli_client_controls_a_running_daemon(
        self, daemon: tuple[Daemon, str], tmp_path: Path
    ) -> None:
        proc, url = daemon
        status = _cli("status", "--url", url, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["state"] in ("running", "paused")

        paused = _cli("pause", "--url", url, "--json")
        assert paused.returncode == 0, paused.stderr
        assert json.loads(_cli("status", "--url", url, "--json").stdout)["state"] == (
            "paused"
        )
        assert _cli("resume", "--url", url).returncode == 0

        saved = _cli("save", "--url", url, "--json")
        assert saved.returncode == 0, saved.stderr
        assert Path(json.loads(saved.stdout)["path"]).name in _checkpoints(tmp_path)

        down = _cli("shutdown", "--url", url)
        assert down.returncode == 0, down.stderr
        assert proc.finish() == 0, proc.output  # graceful: exit 0
        assert len(_checkpoints(tmp_path)) >= 2  # the save, then the final one

        gone = _cli("status", "--url", url)
        assert gone.returncode == 3  # unreachable once the daemon has exited

    def test_a_wrong_token_is_refused(self, tmp_path: Path) -> None:
        proc = Daemon(
            DEMO,
            "--set",
            f"state.dir={tmp_path}",
            *API,
            "--set",
            "api.token=s3cret",
        )
        try:
            proc.wait_for("HTTP API on http://")
            match = re.search(r"HTTP API on (http://127\.0\.0\.1:\d+)", proc.output)
            assert match, proc.output
            url = match[1]
            refused = _cli("status", "--url", url, "--token", "wrong")
            assert refused.returncode == 1
            ok = _cli("status", "--url", url, "--token", "s3cret")
            assert ok.returncode == 0, ok.stderr
            assert _cli("shutdown", "--url", url, "--token", "s3cret").returncode == 0
            assert proc.finish() == 0
        finally:
            proc.kill()


class TestApiConfigErrors:
    def test_a_public_host_without_a_token_is_refused(self) -> None:
        done = _cli(
            "validate",
            str(DEMO),
            "--set",
            "api.enabled=true",
            "--set",
            "api.host=0.0.0.0",
        )
        assert done.returncode == 2
        assert "needs a token" in done.stderr + done.stdout
        assert "Traceback" not in done.stderr

    def test_an_unset_token_variable_is_exit_2_before_anything_runs(
        self, tmp_path: Path
    ) -> None:
        done = _cli(
            "run",
            str(DEMO),
            "--set",
            f"state.dir={tmp_path}",
            *API,
            "--set",
            "api.token_env=AIOTRAINER_TEST_NO_SUCH_VAR",
        )
        assert done.returncode == 2, done.stderr
        assert "api.token_env" in done.stderr
        assert _checkpoints(tmp_path) == []  # nothing ran, nothing saved

    def test_a_busy_port_is_exit_2_before_anything_is_restored_or_run(
        self, tmp_path: Path
    ) -> None:
        # It used to restore, train and write a final checkpoint, and only then
        # fail on the port.
        state = ("--set", f"state.dir={tmp_path}")
        first = _cli("run", str(DEMO), *state, "--set", "run.max_runs=1")
        assert first.returncode == 0, first.stderr
        before = _checkpoints(tmp_path)
        assert before
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = _cli("run", str(DEMO), *state, *API, "--set", f"api.port={port}")
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert f"api.port: cannot listen on 127.0.0.1:{port}: " in done.stderr
        assert "Traceback" not in output
        assert "restored state" not in output
        assert "starting pid" not in output  # nothing was built
        assert _checkpoints(tmp_path) == before  # nothing saved


class TestDaemonStreamsAndIngestion:
    def test_events_end_at_shutdown_and_other_processes_ingest(
        self, daemon: tuple[Daemon, str]
    ) -> None:
        proc, url = daemon
        events = subprocess.Popen(
            [sys.executable, "-m", "aiotrainer.cli", "events", "--url", url, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # connected once the first event (the demo trains all along) arrives
            assert events.stdout is not None
            ready, _, _ = select.select([events.stdout], [], [], 30)
            assert ready, "the events stream never connected"
            first = json.loads(events.stdout.readline())
            assert first["kind"]
            with ApiClient(url) as api:  # this test process is the other process
                before = api.status().buffers["samples"].collected
                items = [[[0.1, 0.2, 0.3], 1.0]] * 100
                result = api.ingest("samples", items, msgpack=True)
                assert result.accepted == 100
                assert api.status().buffers["samples"].collected >= before + 100
            assert _cli("shutdown", "--url", url).returncode == 0
            out, err = events.communicate(timeout=60)  # the stream ended by itself
            assert events.returncode == 0, err
            kinds = [json.loads(line)["kind"] for line in out.splitlines() if line]
            assert "service_stopping" in kinds
            assert proc.finish() == 0, proc.output
        finally:
            if events.poll() is None:
                events.kill()
                events.communicate()


class TestRunSettings:
    def test_the_switch_interval_is_applied_and_logged(self, tmp_path: Path) -> None:
        done = _cli(
            "run",
            str(DEMO),
            "--set",
            f"state.dir={tmp_path}",
            "--set",
            "run.max_runs=1",
            "--set",
            "run.switch_interval=0.0005",
        )
        assert done.returncode == 0, done.stderr
        assert "GIL switch interval: 0.0005 s" in done.stderr + done.stdout

    def test_a_bad_switch_interval_is_refused(self) -> None:
        done = _cli("validate", str(DEMO), "--set", "run.switch_interval=0")
        assert done.returncode == 2
        assert "run.switch_interval" in done.stderr + done.stdout
