"""Crash safety: a process saving checkpoints is SIGKILLed at random moments."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aiotrainer
from aiotrainer.state import CheckpointStore

KILLS = 50

# Saves checkpoints in a loop (no retention); prints each name once save() returned.
CHILD = """
import os, sys
from pathlib import Path
from aiotrainer.state import CheckpointStore

store = CheckpointStore(sys.argv[1])
print("ready", flush=True)
rng = __import__("random").Random(int(sys.argv[2]))
step = 0

def write(directory: Path) -> None:
    (directory / "model.bin").write_bytes(os.urandom(rng.randrange(1, 256 * 1024)))
    (directory / "trainer").mkdir()
    (directory / "trainer" / "state.txt").write_text(str(step))
    (directory / "trainer" / "buffer.bin").write_bytes(os.urandom(rng.randrange(4096)))

while True:
    step += 1
    checkpoint = store.save(write, metadata={"step": step})
    print(checkpoint.name, flush=True)
"""

NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z")


def child_env() -> dict[str, str]:
    src = str(Path(aiotrainer.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}


@pytest.mark.timeout(120)
def test_checkpoints_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = child_env()
    reported: set[str] = set()
    verified: set[str] = set()
    mid_save = 0  # kills that left a save's temporary directory behind
    started = time.monotonic()

    for kill in range(KILLS):
        context = f"seed {seed}, kill {kill}"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), str(rng.randrange(2**32))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            assert child.stdout is not None
            ready = child.stdout.readline()
            if ready == b"ready\n":
                # Mostly mid-save; now and then before the first one.
                time.sleep(rng.uniform(0, 0.06))
        finally:
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate(timeout=30)
        assert ready == b"ready\n", (context, err.decode(errors="replace")[-2000:])
        assert child.returncode == -signal.SIGKILL, context
        # a line without its newline was cut by the kill: not reported
        lines = out.decode().split("\n")[:-1]
        assert all(NAME.fullmatch(line) for line in lines), (context, lines)
        reported.update(lines)

        mid_save += any(n.startswith(".tmp-") for n in os.listdir(root))
        store = CheckpointStore(root)  # removes the killed save's temporary directory

        on_disk = set(os.listdir(root))
        assert not [n for n in on_disk if n.startswith(".tmp-")], context
        listed = store.list()
        names = [c.name for c in listed]
        # complete or invisible: every directory with a checkpoint name is complete
        assert set(names) == on_disk, (context, on_disk - set(names))
        assert reported <= set(names), (context, reported - set(names))
        assert [c.sequence for c in listed] == list(range(1, len(listed) + 1))
        latest = store.latest()
        if reported:
            assert latest is not None, context
            assert latest.name >= max(reported), context
        if latest is not None:
            assert store.verify(latest) == latest, context
        for checkpoint in listed:
            if checkpoint.name not in verified:
                store.verify(checkpoint)
                verified.add(checkpoint.name)

    assert len(reported) > 0
    assert mid_save > 0, f"seed {seed}: no kill landed in the middle of a save"
    assert time.monotonic() - started < 110
