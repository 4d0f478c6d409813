"""collect() wakes the loop at most once per wait, and never from the loop itself.

Counted on the asyncio loop by wrapping its ``call_soon_threadsafe`` (uvloop's
loop is a C type whose methods cannot be wrapped; the scheduler code is the same).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import anyio
import pytest

from aiotrainer import SequentialBuffer, Trainer, TrainerService
from helpers import DEADLINE


class Every64(Trainer):
    def __init__(self) -> None:
        super().__init__("buf", min_buffer_size=64, min_new_data_count=64)
        self.runs = 0
        self._ran = threading.Condition()

    def train(self) -> None:
        with self._ran:
            self.runs += 1
            self._ran.notify_all()

    async def wait_runs(self, n: int) -> None:
        """Await ``runs >= n``: bounded, cancellable, no polling."""

        def wait() -> bool:
            with self._ran:
                return self._ran.wait_for(lambda: self.runs >= n, DEADLINE)

        if not await anyio.to_thread.run_sync(wait, abandon_on_cancel=True):
            raise TimeoutError(f"{self.runs} runs after {DEADLINE} s, expected {n}")


def _count_threadsafe_calls(loop: asyncio.AbstractEventLoop) -> Counter[str]:
    calls: Counter[str] = Counter()
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        calls[threading.current_thread().name] += 1
        return original(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    return calls


@pytest.fixture
def asyncio_only(request: pytest.FixtureRequest) -> None:
    if "uvloop" in request.node.name:
        pytest.skip("uvloop's loop methods cannot be wrapped")


@pytest.mark.usefixtures("asyncio_only")
class TestWakeUps:
    async def test_a_foreign_producer_wakes_the_loop_once_per_wait(self) -> None:
        trainer = Every64()
        service = TrainerService(
            buffers={"buf": SequentialBuffer(1000)}, trainers={"t": trainer}
        )
        calls = _count_threadsafe_calls(asyncio.get_running_loop())
        with anyio.fail_after(10):
            async with service:
                collector = service.data_collectors.acquire("buf")

                def produce() -> None:
                    for i in range(640):
                        collector.collect(i)
                        time.sleep(0.0002)  # let the loop dispatch between items

                producer = threading.Thread(target=produce, name="producer")
                producer.start()
                await anyio.to_thread.run_sync(producer.join, DEADLINE)
                await trainer.wait_runs(8)
        # pamiq's rule counts items since the last run began, so 640 items make
        # 9 or 10 runs; each run's wait was ended by one producer wake-up (plus at
        # most one from a race between arming and collecting), not one per item
        assert trainer.runs >= 8
        assert calls["producer"] <= trainer.runs + 2

    async def test_collecting_on_the_loop_wakes_it_with_no_threadsafe_call(
        self,
    ) -> None:
        trainer = Every64()
        service = TrainerService(
            buffers={"buf": SequentialBuffer(1000)}, trainers={"t": trainer}
        )
        loop_thread = threading.current_thread().name
        calls = _count_threadsafe_calls(asyncio.get_running_loop())
        with anyio.fail_after(10):
            async with service:
                collector = service.data_collectors.acquire("buf")
                for i in range(640):
                    collector.collect(i)
                    if i % 64 == 63:
                        await trainer.wait_runs((i + 1) // 64)
        assert trainer.runs >= 8
        assert calls[loop_thread] == 0
