"""``aiotrainer run`` and ``validate`` in real subprocesses."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aiotrainer import CheckpointStore
from aiotrainer.config import load_config
from aiotrainer.demo import LinearModel

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
TESTS = Path(__file__).parent

pytestmark = pytest.mark.timeout(120)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOTRAINER__")}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(TESTS), env.get("PYTHONPATH")])
    )
    env.update(extra)
    return env


def _cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiotrainer.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env or _env(),
        cwd=ROOT,
    )


class Daemon:
    """``aiotrainer run`` in a subprocess, its output read as it comes."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiotrainer.cli", "run", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env or _env(),
            cwd=ROOT,
        )
        self.output = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False at EOF."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        chunk = os.read(fd, 65536)
        self.output += chunk.decode(errors="replace")
        return bool(chunk)

    def wait_for(self, text: str, within: float = 30.0) -> None:
        """Return once ``text`` has been printed; fail after ``within`` seconds."""
        deadline = time.monotonic() + within
        while text not in self.output:
            if time.monotonic() > deadline or not self._read(deadline):
                raise AssertionError(f"{text!r} never came; output:\n{self.output}")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def finish(self, within: float = 60.0) -> int:
        """Read to the end; return the exit status."""
        deadline = time.monotonic() + within
        while self._read(deadline):
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; output:\n{self.output}")
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.finish()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:  # none left running, whatever the test did
        daemon.kill()


def _checkpoints(state: Path) -> list[str]:
    return [c.name for c in CheckpointStore(state).list()] if state.exists() else []


class TestRun:
    def test_the_demo_runs_to_completion(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        daemon = Daemon(
            DEMO, "--set", "run.max_uptime=2", "--set", f"state.dir={tmp_path}"
        )
        daemons.append(daemon)
        assert daemon.finish() == 0, daemon.output
        assert "stopped: max_uptime 2 s reached" in daemon.output
        assert "on uvloop: " in daemon.output  # by default
        assert "sgd: " in daemon.output and " runs, loss=" in daemon.output  # progress
        assert "summary: ran " in daemon.output
        assert "trainer sgd: " in daemon.output
        assert "Traceback" not in daemon.output
        assert _checkpoints(tmp_path)

    @pytest.mark.parametrize(
        "signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"]
    )
    def test_a_signal_stops_it_gracefully_and_a_restart_resumes(
        self, tmp_path: Path, daemons: list[Daemon], signum: int
    ) -> None:
        args = ("--set", f"state.dir={tmp_path}", "--set", "run.max_uptime=null")
        first = Daemon(DEMO, *args, "--set", "state.save_interval=null")
        daemons.append(first)
        first.wait_for(" runs, loss=")  # it trains
        first.signal(signum)
        assert first.finish() == 0, first.output
        name = signal.Signals(signum).name
        assert f"stopping: received {name}" in first.output
        (final,) = _checkpoints(tmp_path)  # the final one, and only it
        assert f"final checkpoint: {tmp_path / final}" in first.output

        second = Daemon(DEMO, *args, "--set", "run.max_runs=1")
        daemons.append(second)
        assert second.finish() == 0, second.output
        assert f"restored state from {tmp_path / final}" in second.output
        assert "stopped: max_runs 1 reached" in second.output

    def test_a_second_interrupt_exits_at_once(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        config = tmp_path / "slow.yaml"
        config.write_text(
            "trainers:\n  slow: {target: 'daemon_parts:SlowTrainer'}\n"
            f"state: {{dir: {tmp_path / 'state'}}}\n"
            "workers: {shutdown_timeout: 100}\n"
        )
        daemon = Daemon(config)
        daemons.append(daemon)
        daemon.wait_for("train started")
        daemon.signal(signal.SIGINT)
        daemon.wait_for("stopping: received SIGINT")
        daemon.signal(signal.SIGINT)
        assert daemon.finish(within=30) == 130, daemon.output  # not the 60 s run
        assert "second interrupt: exiting now, without waiting for 1 run(s)" in (
            daemon.output
        )

    @pytest.mark.parametrize(
        "signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"]
    )
    def test_a_signal_during_the_restore_ends_it_when_the_restore_returns(
        self, tmp_path: Path, daemons: list[Daemon], signum: int
    ) -> None:
        # It used to be honoured only after the restore: sources and the API
        # started (and stopped at once), and a final checkpoint replaced the one
        # just loaded, with nothing new in it.
        gate = tmp_path / "gate"
        os.mkfifo(gate)
        state = tmp_path / "state"
        common = (
            f"models: {{m: {{target: 'daemon_parts:GatedLoadModel', "
            f"args: {{gate: '{gate}'}}}}}}\n"
            "buffers: {b: {target: 'aiotrainer:SequentialBuffer', "
            "args: {max_size: 10}}}\n"
            "trainers:\n"
            "  slow: {target: 'daemon_parts:SlowTrainer', args: {seconds: 0}}\n"
            f"state: {{dir: '{state}'}}\n"
        )
        first = tmp_path / "first.yaml"
        first.write_text(common + "run: {max_runs: 1}\n")
        assert _cli("run", str(first)).returncode == 0
        before = _checkpoints(state)
        assert len(before) == 1
        second = tmp_path / "second.yaml"
        second.write_text(
            common
            + "sources: {s: {target: 'daemon_parts:failing_source', buffer: b}}\n"
            "api: {enabled: true, port: 0}\n"
        )
        daemon = Daemon(second)
        daemons.append(daemon)
        daemon.wait_for("load_state waiting")
        daemon.signal(signum)
        daemon.wait_for(f"stopping: received {signal.Signals(signum).name}")
        fd = os.open(gate, os.O_WRONLY)  # the restore goes on
        os.close(fd)
        assert daemon.finish() == 0, daemon.output
        assert f"restored state from {state / before[0]}" in daemon.output
        assert "train started" not in daemon.output  # no trainer ran
        assert "the source broke" not in daemon.output  # no source started
        assert "HTTP API on" not in daemon.output  # the API never served
        assert "final checkpoint: " not in daemon.output
        assert "stopped during start-up, before any run: no final" in daemon.output
        assert _checkpoints(state) == before  # the one just loaded stays newest
        assert "Traceback" not in daemon.output

    def test_one_interrupt_during_another_stop_does_not_exit_at_once(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        # Ctrl-C once while max_uptime's stop waits for a run used to be taken as
        # the second interrupt: exit 130 without the final checkpoint.
        config = tmp_path / "slow.yaml"
        config.write_text(
            "trainers:\n"
            "  slow: {target: 'daemon_parts:SlowTrainer', args: {seconds: 6}}\n"
            f"state: {{dir: {tmp_path / 'state'}}}\n"
            "workers: {shutdown_timeout: 100}\n"
            "run: {max_uptime: 0.5}\n"
        )
        daemon = Daemon(config)
        daemons.append(daemon)
        daemon.wait_for("train started")
        daemon.wait_for("stopping: max_uptime 0.5 s reached")
        daemon.signal(signal.SIGINT)
        daemon.wait_for("received SIGINT while stopping (max_uptime 0.5 s reached)")
        assert daemon.finish(within=30) == 0, daemon.output  # once the run ends
        assert "final checkpoint: " in daemon.output
        assert "second interrupt" not in daemon.output

    def test_unloadable_checkpoints_are_refused_with_a_hint_in_config_terms(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "2026-01-01T00-00-00.000000Z").mkdir()  # no manifest: corrupt
        proc = _cli("run", str(DEMO), "--set", f"state.dir={tmp_path}")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.rstrip().endswith(
            "repair or move them away, or set state.resume: null "
            "(--set state.resume=null) to start fresh beside them"
        ), proc.stderr  # it said resume_from=None, the Python argument
        assert "Traceback" not in proc.stderr

    def test_a_failing_trainer_ends_it_with_status_1(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        config = tmp_path / "failing.yaml"
        config.write_text("trainers:\n  bad: {target: 'daemon_parts:FailingTrainer'}\n")
        daemon = Daemon(config, "--no-uvloop")
        daemons.append(daemon)
        assert daemon.finish() == 1, daemon.output
        assert "on asyncio: " in daemon.output
        assert "this trainer always fails" in daemon.output
        assert "summary: " in daemon.output

    def test_a_failing_source_ends_it_with_status_1(self, tmp_path: Path) -> None:
        config = tmp_path / "source.yaml"
        config.write_text(
            "buffers:\n  b: {target: 'aiotrainer:SequentialBuffer', args: {max_size: 5}}\n"
            "sources:\n  broken: {target: 'daemon_parts:failing_source', buffer: b}\n"
        )
        proc = _cli("run", str(config))
        assert proc.returncode == 1, proc.stderr
        assert "source 'broken' failed: RuntimeError: the source broke" in proc.stderr
        assert "stopped: source 'broken' failed" in proc.stdout
        assert "buffer b: 1 seen" in proc.stdout

    def test_a_checkpoint_that_does_not_fit_ends_it_with_status_1(
        self, tmp_path: Path
    ) -> None:
        state = ("--set", f"state.dir={tmp_path}")
        assert _cli("run", str(DEMO), *state, "--set", "run.max_runs=1").returncode == 0
        other_dim = ("--set", "models.linear.args.dim=4")
        proc = _cli("run", str(DEMO), *state, *other_dim, "--set", "run.max_runs=1")
        assert proc.returncode == 1
        assert proc.stderr.splitlines()[-1].startswith(
            "aiotrainer: error: loading model 'linear' from checkpoint"
        )
        assert "has dim=3; expected dim=4" in proc.stderr
        assert "Traceback" not in proc.stderr

    def test_json_log_lines(self, tmp_path: Path) -> None:
        proc = _cli(
            "run",
            str(DEMO),
            "--set",
            f"state.dir={tmp_path}",
            "--set",
            "run.max_runs=1",
            "--set",
            "logging.format=json",
            "--set",
            "run.progress=off",
        )
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(line) for line in proc.stderr.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(records[0])
        assert any(r["message"].startswith("starting pid ") for r in records)
        assert proc.stdout.startswith("summary: ")  # no progress lines

    def test_an_unusable_state_dir_exits_2(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        proc = _cli("run", str(DEMO), "--set", f"state.dir={tmp_path / 'file' / 'x'}")
        assert proc.returncode == 2
        assert proc.stderr.splitlines()[-1] == (
            f"aiotrainer: error: state directory '{tmp_path / 'file' / 'x'}' cannot "
            "be used: Not a directory"
        )
        assert "Traceback" not in proc.stderr

    def test_a_bad_config_exits_2_without_a_traceback(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        daemon = Daemon(DEMO, "--set", "state.dirr=x")
        daemons.append(daemon)
        assert daemon.finish() == 2
        assert (
            daemon.output == "state.dirr: unknown key; did you mean 'dir'? (got 'x')\n"
        )


class TestOneDaemonPerStateDir:
    def test_the_second_is_refused_and_a_killed_ones_lock_is_released(
        self, tmp_path: Path, daemons: list[Daemon]
    ) -> None:
        args = ("--set", f"state.dir={tmp_path}", "--set", "run.max_uptime=null")
        first = Daemon(DEMO, *args)
        daemons.append(first)
        first.wait_for("running; SIGINT or SIGTERM")
        second = Daemon(DEMO, *args)
        daemons.append(second)
        assert second.finish() == 2
        assert f"is in use by process {first.pid}" in second.output
        assert "Traceback" not in second.output

        first.signal(signal.SIGKILL)
        assert first.finish() == -signal.SIGKILL
        third = Daemon(DEMO, *args, "--set", "run.max_runs=1")
        daemons.append(third)
        assert third.finish() == 0, third.output


class TestOverrides:
    @pytest.mark.parametrize(
        ("use_env", "use_set", "expected"),
        [(False, False, "file"), (True, False, "env"), (True, True, "set")],
        ids=["file", "env-over-file", "set-over-env"],
    )
    def test_precedence(
        self,
        tmp_path: Path,
        daemons: list[Daemon],
        use_env: bool,
        use_set: bool,
        expected: str,
    ) -> None:
        config = tmp_path / "c.yaml"
        config.write_text(
            DEMO.read_text().replace(".aiotrainer/demo", str(tmp_path / "file"))
        )
        env = _env(AIOTRAINER__STATE__DIR=str(tmp_path / "env")) if use_env else None
        args = ["--set", "run.max_runs=1"]
        if use_set:
            args += ["--set", f"state.dir={tmp_path / 'set'}"]
        daemon = Daemon(config, *args, env=env)
        daemons.append(daemon)
        assert daemon.finish() == 0, daemon.output
        used = [d for d in ("file", "env", "set") if _checkpoints(tmp_path / d)]
        assert used == [expected]

    @pytest.mark.parametrize("command", ["validate", "run"])
    def test_conflicting_environment_variables_exit_2(
        self, tmp_path: Path, command: str
    ) -> None:
        env = _env(
            AIOTRAINER__STATE__DIR=str(tmp_path / "a"),
            AIOTRAINER__STATE__DIR__X="1",
        )
        done = _cli(command, str(DEMO), env=env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.splitlines() == [
            (
                "state.dir: set by both AIOTRAINER__STATE__DIR and "
                "AIOTRAINER__STATE__DIR__X; set it once"
            )
        ]
        assert not (tmp_path / "a").exists()  # nothing ran


class TestEmbedded:
    async def test_the_embedded_build_resumes_what_the_daemon_saved(
        self, tmp_path: Path
    ) -> None:
        proc = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "aiotrainer.cli",
                "run",
                str(DEMO),
                "--set",
                f"state.dir={tmp_path}",
                "--set",
                "run.max_runs=5",
            ],
            cwd=ROOT,
            env=_env(),
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        # strict resume: the embedded service has exactly the daemon's components
        config = load_config(
            DEMO, overrides=[f"state.dir={tmp_path}", "state.strict=true"], environ={}
        )
        service = config.build_service()
        with anyio.fail_after(30):
            async with service:
                model = service.training_models["linear"]
                assert isinstance(model, LinearModel)
                assert model.w != [0.0, 0.0, 0.0]  # trained by the daemon
                agent = service.inference_models["linear"]
                x = (0.5, -1.0, 2.0)
                assert agent(x) == model.forward(x)  # synced before any run
                # the run count continues from the daemon's (max_runs=5)
                assert service.status().trainers["sgd"].runs >= 5


class TestValidate:
    def test_the_shipped_configs_are_valid(self) -> None:
        for name in ("demo.yaml", "reference.yaml"):
            proc = _cli("validate", f"configs/{name}")
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith(f"configs/{name}: ok (1 models")

    @pytest.mark.parametrize(
        ("name", "text", "args", "expected"),
        [
            (
                "c.yaml",
                "trainers:\n  t: {target: 'aiotrainer.demo:LinearRegressionTrainr'}\n",
                (),
                [
                    (
                        "trainers.t.target: 'aiotrainer.demo' has no attribute "
                        "'LinearRegressionTrainr'; did you mean 'LinearRegressionTrainer'? "
                        "(got 'aiotrainer.demo:LinearRegressionTrainr')"
                    )
                ],
            ),
            (
                "c.yaml",
                (
                    "buffers:\n  b: {target: 'aiotrainer:SequentialBuffer', args: {max_size: 5}}\n"
                    "sources:\n  s: {target: 'aiotrainer.demo:SyntheticSource', buffer: c}\n"
                    "stat: {}\n"
                ),
                (),
                [
                    "stat: unknown key; did you mean 'state'? (got {})",
                ],
            ),
            (
                "c.yaml",
                (
                    "buffers:\n  b: {target: 'aiotrainer:SequentialBuffer', args: {max_size: 5}}\n"
                    "sources:\n  s: {target: 'aiotrainer.demo:SyntheticSource', buffer: c}\n"
                ),
                (),
                [
                    "sources.s.buffer: no buffer named 'c'; expected one of: 'b' (got 'c')",
                ],
            ),
            (
                "c.yaml",
                (
                    "models:\n  m: {target: 'aiotrainer:SequentialBuffer'}\n"
                    "state: {dir: PLACEHOLDER/file/state}\n"
                ),
                (),
                [
                    (
                        "models.m.target: expected a subclass of TrainingModel "
                        "(got class aiotrainer.data.buffers.SequentialBuffer)"
                    ),
                    (
                        "state.dir: cannot be used: PLACEHOLDER/file is a file "
                        "(got 'PLACEHOLDER/file/state')"
                    ),
                ],
            ),
            (
                "c.toml",
                "[state]\ndir = '/x'\ndir = '/y'\n",
                (),
                [
                    "c.toml: invalid TOML: Cannot overwrite a value (at line 3, column 11)"
                ],
            ),
            ("c.yaml", "state: {dir: [}\n", (), ["c.yaml: invalid YAML at line 1"]),
            (
                "c.yaml",
                "{}\n",
                ("--set", "nonsense"),
                ["--set: expected key.path=value"],
            ),
            ("c.cfg", "", (), ["c.cfg: unknown config file extension"]),
            (
                "c.yaml",
                "api: {enabled: true, token_env: AIOTRAINER_TEST_UNSET_TOKEN}\n",
                (),
                ["api.token_env: the environment variable is not set or empty"],
            ),
            ("missing.yaml", None, (), ["missing.yaml: no such config file"]),
            (
                "c.yaml",
                "state: {dir: PLACEHOLDER/state, resume: 2026-01-01T00-00-00.000000Z}\n",
                (),
                [
                    (
                        "state.resume: no checkpoint '2026-01-01T00-00-00.000000Z' in "
                        "'PLACEHOLDER/state'; it holds no complete checkpoint yet"
                    )
                ],
            ),
            (
                "c.yaml",
                "state: {dir: PLACEHOLDER/state, resume: PLACEHOLDER/gone}\n",
                (),
                ["state.resume: no such directory (got 'PLACEHOLDER/gone')"],
            ),
        ],
        ids=[
            "misspelt-target",
            "misspelt-section",
            "missing-buffer",
            "wrong-kind-and-unwritable",
            "toml-duplicate",
            "yaml-syntax",
            "bad-set",
            "extension",
            "api-token",
            "missing-file",
            "resume-name",
            "resume-path",
        ],
    )
    def test_broken_configs_exit_2_with_one_line_each(
        self,
        tmp_path: Path,
        name: str,
        text: str | None,
        args: tuple[str, ...],
        expected: list[str],
    ) -> None:
        (tmp_path / "file").write_text("")
        path = tmp_path / name
        if text is not None:
            path.write_text(text.replace("PLACEHOLDER", str(tmp_path)))
        proc = _cli("validate", str(path), *args)
        assert proc.returncode == 2, proc.stdout
        lines = proc.stderr.splitlines()
        expected = [e.replace("PLACEHOLDER", str(tmp_path)) for e in expected]
        assert len(lines) == len(expected), proc.stderr
        for line, start in zip(lines, expected, strict=True):
            assert line.removeprefix(f"{tmp_path}/").startswith(start), line
        assert proc.stdout in (
            "",
            "warning: TrainerService created without trainers: nothing will train\n",
        )

    @pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
    @pytest.mark.parametrize("state_dir", ["/proc/x", "/proc"])
    def test_a_state_dir_under_proc_is_not_writable(self, state_dir: str) -> None:
        # As root, os.access() said /proc was writable and validate said ok.
        proc = _cli("validate", str(DEMO), "--set", f"state.dir={state_dir}")
        assert proc.returncode == 2, proc.stdout
        (line,) = proc.stderr.splitlines()
        assert line.startswith(
            "state.dir: not writable: cannot create a file in /proc ("
        ), line
        assert line.endswith(f"(got {state_dir!r})"), line

    @pytest.mark.parametrize("under", ["", "missing/deeper"], ids=["there", "missing"])
    def test_the_writability_check_leaves_nothing_behind(
        self, tmp_path: Path, under: str
    ) -> None:
        (tmp_path / "state").mkdir()
        proc = _cli(
            "validate", str(DEMO), "--set", f"state.dir={tmp_path / 'state' / under}"
        )
        assert proc.returncode == 0, proc.stderr
        assert list(tmp_path.rglob("*")) == [tmp_path / "state"]

    def test_schema_is_json_schema_of_the_config(self) -> None:
        proc = _cli("schema")
        assert proc.returncode == 0
        schema = json.loads(proc.stdout)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert {"models", "buffers", "trainers", "sources", "state", "api"} <= set(
            schema["properties"]
        )
        assert schema["additionalProperties"] is False
        assert schema["properties"]["$schema"]["type"] == "string"  # for editors

    def test_schema_into_a_closed_pipe(self) -> None:
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first byte
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "aiotrainer.cli", "schema"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
                env=_env(),
            )
        finally:
            os.close(write_end)
        assert proc.stderr == ""  # no BrokenPipeError traceback
        assert proc.returncode == 0
