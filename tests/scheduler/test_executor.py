"""LocalExecutor and the Executor seam, with real worker threads."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from aiotrainer import Executor, LocalExecutor, PauseGate, pause_point
from helpers import DEADLINE, InstrumentedTrainer, Journal, LoopSignal, make_service

T = TypeVar("T")


class Probe:
    """Records, from worker threads, which jobs started and finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.signal = LoopSignal()
        self.started: list[str] = []
        self.finished: list[str] = []
        self.active = 0
        self.most_active = 0
        self.threads: set[threading.Thread] = set()

    def job(
        self, name: str, work: Callable[[], object] = lambda: None
    ) -> Callable[[], str]:
        def run() -> str:
            with self.lock:
                self.started.append(name)
                self.active += 1
                self.most_active = max(self.most_active, self.active)
                self.threads.add(threading.current_thread())
            self.signal.notify()
            try:
                work()
            finally:
                with self.lock:
                    self.active -= 1
                    self.finished.append(name)
                self.signal.notify()
            return name

        return run


@pytest.fixture
async def probe() -> Probe:
    return Probe()


@pytest.fixture
def release() -> Any:
    event = threading.Event()
    yield event
    event.set()


class TestLocalExecutor:
    async def test_runs_in_a_worker_thread_and_returns_the_result(
        self, probe: Probe
    ) -> None:
        executor = LocalExecutor()
        with anyio.fail_after(DEADLINE):
            assert await executor.run(probe.job("a")) == "a"
            await executor.aclose()
        (thread,) = probe.threads
        assert thread is not threading.current_thread()
        assert thread.name.startswith("aiotrainer-worker-")

    async def test_raises_the_callables_own_exception(self) -> None:
        executor = LocalExecutor()
        error = ValueError("from the worker")

        def fail() -> None:
            raise error

        with anyio.fail_after(DEADLINE), pytest.raises(ValueError) as info:
            await executor.run(fail)
        assert info.value is error
        with anyio.fail_after(DEADLINE):
            assert await executor.run(lambda: 42) == 42  # the pool still works
            await executor.aclose()

    @pytest.mark.parametrize("workers", [1, 2, 3], ids=["1", "2", "3"])
    async def test_never_more_than_max_workers_at_once(
        self, probe: Probe, workers: int
    ) -> None:
        executor = LocalExecutor(workers)
        # each job waits until `workers` of them are inside at once
        barrier = threading.Barrier(workers, timeout=DEADLINE)

        def meet() -> None:
            barrier.wait()
            time.sleep(0.002)

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                for i in range(3 * workers):
                    tg.start_soon(executor.run, probe.job(str(i), meet))
            await executor.aclose()
        assert len(probe.finished) == 3 * workers
        assert probe.most_active == workers
        assert executor.in_flight == 0

    async def test_cancelling_a_started_run_waits_for_it(
        self, probe: Probe, release: threading.Event
    ) -> None:
        executor = LocalExecutor()
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    executor.run, probe.job("slow", lambda: release.wait(0.2))
                )
                await probe.signal.wait_until(lambda: probe.started == ["slow"])
                tg.cancel_scope.cancel()
            # the cancelled run returned only once the job had finished
            assert probe.finished == ["slow"]
            await executor.aclose()
        assert executor.abandoned == 0

    async def test_a_run_past_cancel_timeout_is_abandoned_and_reported(
        self, probe: Probe, release: threading.Event
    ) -> None:
        executor = LocalExecutor(cancel_timeout=0.1)
        abandoned: list[bool] = []
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    await executor.run(
                        probe.job("stuck", lambda: release.wait(DEADLINE)),
                        on_abandoned=lambda: abandoned.append(True),
                    )

                tg.start_soon(run)
                await probe.signal.wait_until(lambda: probe.started == ["stuck"])
                started = time.monotonic()
                tg.cancel_scope.cancel()
            # uvloop's timers run on libuv's millisecond clock, cached at the
            # start of a loop iteration: one may fire up to ~1 ms early.
            assert 0.098 <= time.monotonic() - started < 0.1 + DEADLINE / 5
            assert executor.abandoned == 1
            assert abandoned == [True]
            assert probe.finished == []
            release.set()  # let the thread finish: no thread outlives the test
            await probe.signal.wait_until(lambda: probe.finished == ["stuck"])
            await executor.aclose()

    async def test_a_run_cancelled_before_it_started_never_starts(
        self, probe: Probe, release: threading.Event
    ) -> None:
        executor = LocalExecutor(1)
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    executor.run, probe.job("a", lambda: release.wait(DEADLINE))
                )
                await probe.signal.wait_until(lambda: probe.started == ["a"])
                async with anyio.create_task_group() as queued:
                    queued.start_soon(executor.run, probe.job("b"))
                    for _ in range(3):  # let "b" queue for the worker
                        await anyio.lowlevel.checkpoint()
                    queued.cancel_scope.cancel()
                release.set()
            # one worker, first come first served: "b" would have run before "c"
            await executor.run(probe.job("c"))
            await executor.aclose()
        assert probe.started == ["a", "c"]
        assert executor.abandoned == 0

    async def test_pause_points_in_a_run_use_the_given_gate(self, probe: Probe) -> None:
        executor = LocalExecutor()
        gate = PauseGate()
        gate.pause_nowait()
        gate.run_started()
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: executor.run(probe.job("p", pause_point), gate=gate)
                )
                await gate.wait_quiescent()
                assert gate.statistics().parked == 1
                assert probe.finished == []
                gate.resume()
            gate.run_finished()
            # the thread is unbound afterwards: a later run ignores the paused gate
            gate.pause_nowait()
            await executor.run(probe.job("q", pause_point))
            await executor.aclose()
        assert probe.finished == ["p", "q"]

    async def test_aclose_ends_the_worker_threads(self, probe: Probe) -> None:
        executor = LocalExecutor(2)
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                for name in "ab":
                    tg.start_soon(executor.run, probe.job(name))
            await executor.aclose()
            await executor.aclose()  # idempotent
            for thread in probe.threads:
                await anyio.to_thread.run_sync(thread.join, DEADLINE)
        assert probe.threads
        assert not any(t.is_alive() for t in probe.threads)
        assert executor.threads == 0

    def test_is_an_executor(self) -> None:
        executor = LocalExecutor(3, cancel_timeout=1.5)
        assert isinstance(executor, Executor)
        assert executor.max_workers == 3
        assert executor.cancel_timeout == 1.5
        assert LocalExecutor().cancel_timeout == math.inf

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"max_workers": 0}, ValueError, "max_workers must be >= 1, got 0"),
            ({"max_workers": "2"}, TypeError, "max_workers must be an int, got '2'"),
            ({"max_workers": True}, TypeError, "max_workers must be an int, got True"),
            ({"cancel_timeout": -1}, ValueError, "cancel_timeout.*>= 0, got -1"),
            ({"cancel_timeout": "1"}, TypeError, "cancel_timeout.*got '1'"),
        ],
        ids=["zero", "str", "bool", "negative-timeout", "str-timeout"],
    )
    def test_bad_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            LocalExecutor(**kwargs)


class CountingExecutor:
    """An executor of our own, behind the seam: counts runs, delegates them."""

    def __init__(self) -> None:
        self.inner = LocalExecutor(2)
        self.runs = 0

    @property
    def max_workers(self) -> int:
        return self.inner.max_workers

    async def run(
        self,
        fn: Callable[[], T],
        *,
        gate: PauseGate | None = None,
        on_abandoned: Callable[[], object] | None = None,
    ) -> T:
        self.runs += 1
        return await self.inner.run(fn, gate=gate, on_abandoned=on_abandoned)


class TestTheSeam:
    async def test_the_service_hands_every_run_to_the_executor_given(self) -> None:
        journal = Journal()
        executor = CountingExecutor()
        assert isinstance(executor, Executor)
        service = make_service(
            InstrumentedTrainer("t", journal, user="buf", min_new_data_count=1),
            executor=executor,
        )
        assert service.status().max_workers == 2
        with anyio.fail_after(DEADLINE):
            async with service:
                collector = service.data_collectors.acquire("buf")
                for n in range(1, 4):
                    collector.collect(n)
                    await journal.wait_count("t", "trained", n)
            assert executor.runs == journal.count("t", "run") >= 3
            # the executor is the caller's: the service did not close it
            assert await executor.inner.run(lambda: "still usable") == "still usable"
            await executor.inner.aclose()
