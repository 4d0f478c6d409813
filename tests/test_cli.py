"""The aiotrainer command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiotrainer import CheckpointStore
from aiotrainer.cli import main


def _store_with_two(tmp_path: Path) -> CheckpointStore:
    store = CheckpointStore(tmp_path / "state")
    for text in ("one", "two"):
        store.save(lambda d, t=text: (d / "x.txt").write_text(t))
    return store


class TestCheckpoints:
    def test_lists_and_verifies(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = _store_with_two(tmp_path)
        assert main(["checkpoints", str(store.root), "--verify"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2
        assert all(line.endswith(" ok") for line in lines)

    def test_json_lines(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = _store_with_two(tmp_path)
        assert main(["checkpoints", str(store.root), "--json"]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["sequence"] for r in records] == [1, 2]
        assert records[0]["verdict"] == "listed"

    def test_corrupt_checkpoint_fails_with_the_file_named(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = _store_with_two(tmp_path)
        victim = store.list()[0].path / "x.txt"
        victim.write_text("ONE")  # same size, other bytes
        assert main(["checkpoints", str(store.root), "--verify"]) == 1
        out = capsys.readouterr().out
        assert "CORRUPT" in out
        assert "x.txt" in out

    def test_missing_directory(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["checkpoints", str(tmp_path / "nope")]) == 2
        assert "is not a directory" in capsys.readouterr().err


class TestArguments:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            ([], "the following arguments are required: COMMAND"),
            (["train"], "invalid choice: 'train'"),
            (["demo", "--seconds", "0"], "expected a number > 0, got '0'"),
            (["demo", "--rate", "fast"], "expected a number > 0, got 'fast'"),
            (["checkpoints"], "the following arguments are required: state_dir"),
            (["demo", "--seconds", "inf"], "expected a number > 0, got 'inf'"),
            (["demo", "--rate", "nan"], "expected a number > 0, got 'nan'"),
            (["pause", "--timeout", "3601"], "expected a number in (0, 3600]"),
        ],
        ids=[
            "no-command",
            "unknown-command",
            "zero-seconds",
            "word-rate",
            "no-dir",
            "infinite-seconds",
            "nan-rate",
            "pause-timeout-too-long",
        ],
    )
    def test_bad_arguments_exit_2_with_a_message(
        self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_console_script_runs_the_demo() -> None:
    script = shutil.which("aiotrainer", path=str(Path(sys.executable).parent))
    assert script is not None, "the aiotrainer console script is not installed"
    proc = subprocess.run(
        [script, "demo", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo: done" in proc.stdout
