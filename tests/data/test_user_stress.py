"""Many producer threads against one consuming data user."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from aiotrainer import DataUser, SequentialBuffer

PRODUCERS = 4
PER_PRODUCER = 250_000
TOTAL = PRODUCERS * PER_PRODUCER
JOIN_TIMEOUT = 60.0


class _Recorder:
    """Run a target, keep whatever it raises for the main thread to re-raise."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def wrap(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                self.errors.append(exc)
                raise

        return run


@pytest.mark.usefixtures("frequent_thread_switches")
class TestManyProducersOneConsumer:
    @pytest.mark.timeout(120)
    def test_every_item_arrives_exactly_once(self) -> None:
        user = DataUser(SequentialBuffer[int](TOTAL))
        collect = user.collector.collect
        recorder = _Recorder()
        start = threading.Barrier(PRODUCERS + 1, timeout=JOIN_TIMEOUT)
        producers_done = threading.Event()
        updates = [0, 0]  # calls, calls that moved something

        def produce(k: int) -> Callable[[], None]:
            def body() -> None:
                start.wait()
                for i in range(k, TOTAL, PRODUCERS):
                    collect(i)

            return body

        def consume() -> None:
            start.wait()
            while not producers_done.is_set():
                moved = user.update()
                updates[0] += 1
                updates[1] += moved > 0
            user.update()

        producers = [
            threading.Thread(target=recorder.wrap(produce(k)), name=f"producer-{k}")
            for k in range(PRODUCERS)
        ]
        consumer = threading.Thread(target=recorder.wrap(consume), name="consumer")
        consumer.start()
        for t in producers:
            t.start()
        for t in producers:
            t.join(JOIN_TIMEOUT)
        producers_done.set()
        consumer.join(JOIN_TIMEOUT)

        assert not any(t.is_alive() for t in [*producers, consumer]), "deadlock"
        assert recorder.errors == []

        data = user.get_data()
        assert len(data) == TOTAL
        assert sorted(data) == list(range(TOTAL))
        # FIFO per producer: each producer's items keep their order
        last = [-1] * PRODUCERS
        for item in data:
            k = item % PRODUCERS
            assert item > last[k]
            last[k] = item

        stats = user.statistics()
        assert (stats.collected, stats.pending, stats.stored, stats.dropped) == (
            TOTAL,
            0,
            TOTAL,
            0,
        )
        assert user.count_data_added_since(float("-inf")) == TOTAL
        # the consumer really ran concurrently with the producers
        assert updates[1] >= 2
