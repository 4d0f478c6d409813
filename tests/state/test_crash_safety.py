"""Crash safety: a process saving checkpoints is SIGKILLed at seeded points inside
its saves."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import aiotrainer
from aiotrainer.state import CheckpointStore

# Saves checkpoints in a loop (no retention); prints each name once save() returned.
# It SIGKILLs itself at a seeded point inside a save: right after the ``when``-th
# call of one step of the store's protocol (or inside the state writer), so every
# kill lands inside a save, at a known step, whatever the machine's speed.
CHILD = """
import os, signal, sys, tempfile
from pathlib import Path
from aiotrainer.state import CheckpointStore, _atomic

root, seed, point, when = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
calls = 0

def die_after(name, fn):
    def step(*args, **kwargs):
        global calls
        result = fn(*args, **kwargs)
        if name == point:
            calls += 1
            if calls == when:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    return step

tempfile.mkdtemp = die_after("mkdtemp", tempfile.mkdtemp)
_atomic.sync_tree = die_after("sync_tree", _atomic.sync_tree)
_atomic.write_new_file = die_after("manifest", _atomic.write_new_file)
os.rename = die_after("rename", os.rename)
fsync_dir, root_synced = _atomic.fsync_dir, die_after("fsync_root", lambda: None)

def fsync_dir_then_die(path):
    fsync_dir(path)
    if Path(path) == Path(root).absolute():  # the rename made durable
        root_synced()

_atomic.fsync_dir = fsync_dir_then_die

store = CheckpointStore(root)
print("ready", flush=True)
rng = __import__("random").Random(seed)
step = 0

def write(directory: Path) -> None:
    (directory / "model.bin").write_bytes(os.urandom(rng.randrange(1, 256 * 1024)))
    die_after("write", lambda: None)()
    (directory / "trainer").mkdir()
    (directory / "trainer" / "state.txt").write_text(str(step))
    (directory / "trainer" / "buffer.bin").write_bytes(os.urandom(rng.randrange(4096)))

while True:
    step += 1
    checkpoint = store.save(write, metadata={"step": step})
    print(checkpoint.name, flush=True)
"""

#: Where the child dies, in the order a save takes them. Before the rename, a
#: kill leaves the save's temporary directory; from the rename on, a checkpoint.
POINTS = ("mkdtemp", "write", "sync_tree", "manifest", "rename", "fsync_root")
BEFORE_RENAME = frozenset(POINTS[:4])
KILLS = 4 * len(POINTS)

NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z")


def child_env() -> dict[str, str]:
    src = str(Path(aiotrainer.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}


@pytest.mark.timeout(120)
def test_checkpoints_survive_sigkill_inside_saves(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = child_env()
    reported: set[str] = set()
    verified: set[str] = set()

    for kill in range(KILLS):
        point = POINTS[kill % len(POINTS)]
        when = rng.randrange(1, 4)  # in the first, second or third save
        context = f"seed {seed}, kill {kill} after {point} #{when}"
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(root),
                str(rng.randrange(2**32)),
                point,
                str(when),
            ],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        out, err = child.stdout, child.stderr
        assert child.returncode == -signal.SIGKILL, (context, err.decode()[-2000:])
        lines = out.decode().split("\n")
        assert lines[0] == "ready", context
        # a line without its newline was cut by the kill: not reported
        lines = lines[1:-1]
        assert all(NAME.fullmatch(line) for line in lines), (context, lines)
        reported.update(lines)

        left = [n for n in os.listdir(root) if n.startswith(".tmp-")]
        assert bool(left) == (point in BEFORE_RENAME), (context, left)
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
