"""PauseGate and pause_point(), with real worker threads on a real loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import pytest

from aiotrainer import DataUsersDict, PauseGate, TrainingModelsDict, pause_point
from aiotrainer.scheduler import PauseGateStatistics
from helpers import DEADLINE, InstrumentedTrainer, Journal, LoopSignal, steps


@contextmanager
def in_thread(target: Callable[[], None], name: str) -> Iterator[threading.Thread]:
    """Run ``target`` in a thread for the block; join it (bounded) afterwards."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(DEADLINE)
    assert not thread.is_alive()


class Worker:
    """A run in a thread bound to ``gate``: ``steps`` pause points, each followed
    by a step that it records; the loop counts the run in flight around it."""

    def __init__(self, gate: PauseGate, steps: int) -> None:
        self.gate = gate
        self.steps = steps
        self.done: list[int] = []
        self.finished = False
        self.signal = LoopSignal()

    def __call__(self) -> None:
        self.gate.bind_thread()
        try:
            for i in range(self.steps):
                pause_point()
                self.done.append(i)
                self.signal.notify()
        finally:
            self.gate.unbind_thread()
            self.finished = True
            self.signal.notify()


class TestPausePointOutsideAService:
    def test_returns_at_once_on_any_thread(self) -> None:
        pause_point()  # the main thread: nothing bound
        calls: list[str] = []
        with in_thread(lambda: (pause_point(), calls.append("ok")), "plain"):
            pass
        assert calls == ["ok"]

    async def test_a_trainer_with_pause_points_runs_in_a_plain_script(self) -> None:
        journal = Journal()
        trainer = InstrumentedTrainer("script", journal, body=steps(5))
        trainer.attach_training_models(TrainingModelsDict())
        trainer.attach_data_users(DataUsersDict())
        with in_thread(trainer.run, "script"):
            pass
        assert journal.count("script", "step") == 5
        assert journal.count("script", "trained") == 1

    async def test_an_unbound_thread_ignores_a_paused_gate(self) -> None:
        gate = PauseGate()
        gate.pause_nowait()
        done: list[bool] = []
        with in_thread(lambda: (pause_point(), done.append(True)), "unbound"):
            pass
        assert done == [True]
        assert gate.statistics().parked == 0


class TestGateState:
    async def test_pause_and_resume_say_whether_they_changed_it(self) -> None:
        gate = PauseGate()
        assert not gate.paused
        assert gate.resume() is False
        assert gate.pause_nowait() is True
        assert gate.pause_nowait() is False
        assert gate.paused
        assert gate.statistics() == PauseGateStatistics(
            paused=True, running=0, parked=0
        )
        assert gate.resume() is True
        assert gate.resume() is False
        with anyio.fail_after(DEADLINE):
            assert await gate.pause() is True  # nothing in flight: at once
            assert await gate.pause() is False

    async def test_wait_resumed_returns_once_resumed(self) -> None:
        gate = PauseGate()
        with anyio.fail_after(DEADLINE):
            await gate.wait_resumed()  # open: at once
            gate.pause_nowait()
            resumed = anyio.Event()

            async def waiter() -> None:
                await gate.wait_resumed()
                resumed.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.01)  # let time pass: it must still wait
                assert not resumed.is_set()
                gate.resume()
            assert resumed.is_set()

    async def test_wait_quiescent_waits_for_runs_that_are_not_parked(self) -> None:
        gate = PauseGate()
        gate.run_started()
        gate.pause_nowait()
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                quiet = anyio.Event()

                async def waiter() -> None:
                    await gate.wait_quiescent()
                    quiet.set()

                tg.start_soon(waiter)
                await anyio.sleep(0.01)
                assert not quiet.is_set()
                gate.run_finished()
            assert quiet.is_set()
            await gate.wait_idle()


class TestParking:
    async def test_a_paused_gate_parks_a_bound_thread_until_resumed(self) -> None:
        gate = PauseGate()
        worker = Worker(gate, steps=3)
        gate.pause_nowait()
        gate.run_started()
        with anyio.fail_after(DEADLINE), in_thread(worker, "run"):
            await gate.wait_quiescent()
            assert gate.statistics().parked == 1
            await anyio.sleep(0.01)  # let time pass: it stays parked
            assert worker.done == []
            # parked runs are still in flight for wait_idle()
            with anyio.move_on_after(0.01) as scope:
                await gate.wait_idle()
            assert scope.cancelled_caught
            gate.resume()
            await worker.signal.wait_until(lambda: worker.finished)
            gate.run_finished()
            await gate.wait_idle()
        assert worker.done == [0, 1, 2]

    async def test_a_pause_right_after_resume_waits_for_the_thread_to_park_again(
        self,
    ) -> None:
        gate = PauseGate()
        worker = Worker(gate, steps=3)
        gate.pause_nowait()
        gate.run_started()
        with anyio.fail_after(DEADLINE), in_thread(worker, "run"):
            await gate.wait_quiescent()
            assert worker.done == []
            gate.resume()
            gate.pause_nowait()
            # the woken thread counts as running from resume() on...
            assert gate.statistics().parked == 0
            # ...and the pause returns once it has parked again (at the same pause
            # point, or after one more step)
            await gate.wait_quiescent()
            assert gate.statistics().parked == 1
            assert worker.done in ([], [0])
            gate.release_threads()
            await worker.signal.wait_until(lambda: worker.finished)
            gate.run_finished()
        assert worker.done == [0, 1, 2]

    async def test_released_threads_pass_pause_points_for_good(self) -> None:
        gate = PauseGate()
        worker = Worker(gate, steps=3)
        gate.pause_nowait()
        gate.run_started()
        with anyio.fail_after(DEADLINE), in_thread(worker, "run"):
            await gate.wait_quiescent()
            gate.release_threads()
            gate.resume()
            gate.pause_nowait()  # paused again, but released: threads go on
            await worker.signal.wait_until(lambda: worker.finished)
            gate.run_finished()
            await gate.wait_idle()
        assert worker.done == [0, 1, 2]
        assert gate.paused

    @pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "three-threads"])
    async def test_rapid_resume_pause_cycles_never_lose_a_parked_thread(
        self, threads: int
    ) -> None:
        """resume(); pause_nowait() back to back, while threads park and wake:
        each pause must see every thread parked again, and none may sleep on
        while counted as running (that would hang wait_quiescent())."""
        gate = PauseGate()
        stop = threading.Event()
        busy = [0]
        lock = threading.Lock()
        errors: list[str] = []

        def run() -> None:
            gate.bind_thread()
            try:
                while not stop.is_set():
                    pause_point()
                    with lock:
                        busy[0] += 1
                    with lock:
                        busy[0] -= 1
            finally:
                gate.unbind_thread()

        workers = [
            threading.Thread(target=run, name=f"run {i}", daemon=True)
            for i in range(threads)
        ]
        gate.pause_nowait()
        for worker in workers:
            gate.run_started()
            worker.start()
        try:
            for cycle in range(1000):
                with anyio.fail_after(DEADLINE):
                    await gate.wait_quiescent()
                with lock:
                    if busy[0]:
                        errors.append(f"cycle {cycle}: {busy[0]} thread(s) busy")
                gate.resume()
                gate.pause_nowait()
        finally:
            stop.set()
            gate.release_threads()
            for worker in workers:
                worker.join(DEADLINE)
                gate.run_finished()
        assert errors == []
        assert not any(w.is_alive() for w in workers)
