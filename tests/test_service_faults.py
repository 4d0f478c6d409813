"""Faults at the service level: interrupts that must end the process, stuck
trainers, stop during start-up, calls after stop, pause hooks that raise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from aiotrainer import (
    EventKind,
    PauseTimeoutError,
    SequentialBuffer,
    ServiceState,
    ServiceStateError,
    Trainer,
    TrainerService,
)
from aiotrainer.state import CheckpointStore
from helpers import (
    DEADLINE,
    CountingModel,
    InstrumentedTrainer,
    Journal,
    NoopTrainer,
    block_on,
    make_service,
    next_event,
)

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


class TestAStuckTrainer:
    """A trainer stuck in train() (no pause point): pause and save are bounded
    and undone on timeout, and resume() calls a pending pause off."""

    async def test_pause_times_out_naming_the_trainer_and_is_undone(
        self, journal: Journal
    ) -> None:
        release = threading.Event()
        service = make_service(
            InstrumentedTrainer("stuck", journal, body=block_on(release))
        )
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("stuck", "blocking", 1)
                with pytest.raises(
                    PauseTimeoutError, match=r"trainers still running: 'stuck'"
                ):
                    await service.pause(timeout=0.05)
                assert service.state is ServiceState.RUNNING
                release.set()  # undone: the trainer goes on at once
                await journal.wait_count("stuck", "trained", 2)

    async def test_save_state_times_out_and_reports_the_failed_save(
        self, journal: Journal, tmp_path: Path
    ) -> None:
        release = threading.Event()
        service = make_service(
            InstrumentedTrainer("stuck", journal, body=block_on(release)),
            state_dir=tmp_path,
            save_on_shutdown=False,
        )
        events = service.events()
        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("stuck", "blocking", 1)
                with pytest.raises(PauseTimeoutError, match="'stuck'"):
                    await service.save_state(timeout=0.05)
                failed = await next_event(events, EventKind.SAVE_FAILED)
                status = service.status()
                release.set()
                await journal.wait_count("stuck", "trained", 2)
        assert failed.error is not None and "'stuck'" in failed.error
        assert status.last_save_error == failed.error
        assert status.saves_failed == 1
        assert CheckpointStore(tmp_path).list() == []

    async def test_resume_calls_a_pending_pause_off(self, journal: Journal) -> None:
        release = threading.Event()
        service = make_service(
            InstrumentedTrainer("stuck", journal, body=block_on(release))
        )
        outcome: list[BaseException] = []

        async def pause() -> None:
            try:
                await service.pause()
            except ServiceStateError as exc:
                outcome.append(exc)

        with anyio.fail_after(DEADLINE):
            async with service:
                await journal.wait_count("stuck", "blocking", 1)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pause)
                    await anyio.wait_all_tasks_blocked()  # the pause is pending
                    await service.resume()
                assert service.state is ServiceState.RUNNING
                release.set()
                await journal.wait_count("stuck", "trained", 2)
        assert [str(e) for e in outcome] == ["the pause was cancelled by resume()"]


class Hooked(Trainer):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.calls: list[str] = []

    def on_paused(self) -> None:
        self.calls.append("paused")
        if self.fail:
            raise RuntimeError("cannot pause")

    def on_resumed(self) -> None:
        self.calls.append("resumed")

    def train(self) -> None:
        pass


class TestLifeCycle:
    async def test_stop_during_start_up_is_not_lost(self) -> None:
        service = TrainerService(trainers={"t": NoopTrainer()})
        async with anyio.create_task_group() as tg:

            async def enter() -> None:
                async with service:
                    pass

            tg.start_soon(enter)
            await anyio.lowlevel.checkpoint()  # enter() is now starting
            assert service.state is ServiceState.STARTING
            with anyio.fail_after(DEADLINE):
                await service.stop()
            assert service.state is ServiceState.STOPPED

    @pytest.mark.parametrize("verb", ["pause", "resume"])
    async def test_pause_and_resume_after_stop_are_refused(self, verb: str) -> None:
        service = TrainerService(trainers={"t": NoopTrainer()})
        with anyio.fail_after(DEADLINE):
            async with service:
                pass
            with pytest.raises(
                ServiceStateError, match=rf"cannot {verb}: the service is stopped"
            ):
                await getattr(service, verb)()

    async def test_a_failing_on_paused_is_undone_for_those_that_got_it(
        self,
    ) -> None:
        first, grumpy = Hooked(), Hooked(fail=True)
        service = TrainerService(trainers={"first": first, "grumpy": grumpy})
        with anyio.fail_after(DEADLINE):
            async with service:
                with pytest.raises(RuntimeError, match="cannot pause"):
                    await service.pause()
                assert service.state is ServiceState.RUNNING
        assert first.calls == ["paused", "resumed"]
        assert grumpy.calls == ["paused"]


_INTERRUPTED_SAVE = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from aiotrainer import Trainer, TrainerService, TrainingModel, InferenceModel

    class Infer(InferenceModel):
        def infer(self, *args):
            return 0

    class Interrupting(TrainingModel):
        def _create_inference_model(self):
            return Infer()

        def forward(self, *args):
            return 0

        def sync_impl(self, inference_model):
            pass

        def save_state(self, path: Path) -> None:
            raise KeyboardInterrupt

    class Idle(Trainer):
        def train(self):
            pass

    async def main():
        service = TrainerService(
            models={"m": Interrupting()},
            trainers={"t": Idle()},
            state_dir=sys.argv[1],
            save_interval=0.05,
        )
        async with service:
            await asyncio.sleep(60)  # ended by the interrupt in save_state()

    asyncio.run(main())
    """
)


class TestAnInterruptInAHook:
    def test_one_in_a_periodic_save_stops_the_service_and_the_process(
        self, tmp_path: Path
    ) -> None:
        # Raised in a worker thread of the periodic save, it unwound the event
        # loop from that task, skipping the shutdown.
        done = subprocess.run(
            [sys.executable, "-c", _INTERRUPTED_SAVE, str(tmp_path / "state")],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == -2, done.stderr
        assert "KeyboardInterrupt raised in a hook" in done.stderr
        assert "checkpoint failed" in done.stderr
        assert "Traceback" in done.stderr  # the re-raised KeyboardInterrupt
