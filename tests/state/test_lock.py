"""The state directory's lock: one process at a time, released by a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiotrainer import (
    CheckpointStore,
    StateDirLock,
    StateDirLockedError,
    StateRootError,
)

HOLD = textwrap.dedent(
    """
    import sys, time
    from aiotrainer import StateDirLock
    lock = StateDirLock(sys.argv[1])
    lock.acquire()
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills us)
    """
)


def _holder(state_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"  # ends at its exit, if it fails
    return proc


class TestStateDirLock:
    def test_another_process_is_refused_with_its_pid(self, tmp_path: Path) -> None:
        proc = _holder(tmp_path / "state")
        try:
            with pytest.raises(
                StateDirLockedError, match=f"in use by process {proc.pid}"
            ):
                StateDirLock(tmp_path / "state").acquire()
        finally:
            proc.communicate("", timeout=30)
        with StateDirLock(tmp_path / "state") as lock:  # released at its exit
            assert lock.held

    def test_a_killed_holder_releases_it(self, tmp_path: Path) -> None:
        proc = _holder(tmp_path / "state")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # reaped, pipes closed
        assert proc.returncode == -signal.SIGKILL
        lock = StateDirLock(tmp_path / "state")
        lock.acquire()  # no stale lock: the kernel let it go
        assert lock.held
        assert (
            tmp_path / "state" / ".aiotrainer.lock"
        ).read_text() == f"{os.getpid()}\n"
        lock.release()
        lock.release()  # idempotent
        assert not lock.held

    def test_the_lock_file_is_not_a_checkpoint(self, tmp_path: Path) -> None:
        with StateDirLock(tmp_path):
            store = CheckpointStore(tmp_path)
            store.save(lambda d: (d / "x.txt").write_text("x"))
            assert [c.sequence for c in store.list()] == [1]
            assert store.clean_stale() == []
        assert (tmp_path / ".aiotrainer.lock").exists()

    def test_a_file_in_the_way(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("")
        with pytest.raises(StateRootError, match="'.*file/state' cannot be used"):
            StateDirLock(tmp_path / "file" / "state").acquire()
        with pytest.raises(StateRootError, match="exists but is not a directory"):
            StateDirLock(tmp_path / "file").acquire()
