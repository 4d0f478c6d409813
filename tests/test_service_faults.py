"""Faults at the service level: interrupts that must end the process, stuck
trainers, stop during start-up, calls after stop, pause hooks that raise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiotrainer.state import CheckpointStore

_INTERRUPTED = textwrap.dedent(
    """
    import asyncio, sys
    from aiotrainer import Trainer, TrainerService

    class Interrupted(Trainer):
        def train(self):
            raise {error}

    async def main():
        service = TrainerService(
            trainers={{"t": Interrupted()}}, state_dir=sys.argv[1], on_error="retry"
        )
        async with service:
            await asyncio.sleep(60)  # ended by the trainer's interrupt

    asyncio.run(main())
    """
)


class TestTheProcessExits:
    @pytest.mark.parametrize(
        ("error", "returncode"),
        [("KeyboardInterrupt()", -2), ("SystemExit(3)", 3)],
        ids=["KeyboardInterrupt", "SystemExit"],
    )
    def test_an_interrupt_in_train_ends_a_process_with_a_state_dir(
        self, tmp_path: Path, error: str, returncode: int
    ) -> None:
        # On plain asyncio with a state_dir the process never exited: the final
        # save's worker thread was left waiting for a loop that had unwound.
        state_dir = tmp_path / "state"
        done = subprocess.run(
            [sys.executable, "-c", _INTERRUPTED.format(error=error), str(state_dir)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        assert done.returncode == returncode, done.stderr
        assert "trainer 't' failed" in done.stderr
        # the service shut down in order: the final save was written
        assert len(CheckpointStore(state_dir).list()) == 1
