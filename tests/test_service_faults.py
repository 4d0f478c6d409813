"""Faults at the service level: interrupts that must end the process, stuck
trainers, stop during start-up, calls after stop, pause hooks that raise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiotrainer import (
    SequentialBuffer,
    ServiceState,
    ServiceStateError,
    TrainerService,
)
from aiotrainer.state import CheckpointStore
from helpers import CountingModel, NoopTrainer

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


class TestEntry:
    def test_outside_asyncio_the_entry_says_so(self) -> None:
        # Under trio it failed deep inside: "RuntimeError: no running event loop".
        service = TrainerService(trainers={"t": NoopTrainer()})
        entering = service.__aenter__()
        with pytest.raises(ServiceStateError, match=r"aiotrainer runs on asyncio"):
            entering.send(None)
        assert service.state is ServiceState.CREATED

    @pytest.mark.parametrize("kind", ["models", "buffers"])
    def test_one_object_under_two_names_is_refused(self, kind: str) -> None:
        # Two trainers then ran train() on one model at once (a lock per name),
        # and one buffer fed twice no longer balanced its counts.
        item = CountingModel() if kind == "models" else SequentialBuffer(10)
        what = kind[:-1]
        with pytest.raises(
            ValueError,
            match=rf"the same {what} object is registered as 'a' and 'b'",
        ):
            TrainerService(**{kind: {"a": item, "b": item}})  # type: ignore[arg-type]
