"""DataCollector: lock-free collect, drain, counters and waiters."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from aiotrainer import DataCollector, time

JOIN_TIMEOUT = 10.0


def _run_threads(targets: list[threading.Thread]) -> None:
    for t in targets:
        t.start()
    for t in targets:
        t.join(JOIN_TIMEOUT)
        assert not t.is_alive(), f"{t.name} did not finish"


class _Calls:
    """A waiter callback that records from which threads it was called."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.fired = threading.Event()

    def __call__(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.fired.set()

    @property
    def count(self) -> int:
        return len(self.threads)


class TestCollect:
    def test_starts_empty(self) -> None:
        collector = DataCollector[int]()
        assert (collector.collected, collector.pending, collector.dropped) == (0, 0, 0)
        assert collector.drain() == []
        assert collector.max_queue_size is None

    def test_drain_returns_items_oldest_first_with_timestamps(self) -> None:
        collector = DataCollector[str]()
        before = time.time()
        for item in "abc":
            collector.collect(item)
        after = time.time()

        drained = collector.drain()

        assert [item for item, _ in drained] == ["a", "b", "c"]
        stamps = [t for _, t in drained]
        assert stamps == sorted(stamps)
        assert before <= stamps[0] and stamps[-1] <= after

    def test_drain_empties_the_queue_but_keeps_the_total(self) -> None:
        collector = DataCollector[int]()
        for i in range(5):
            collector.collect(i)
        assert (collector.collected, collector.pending) == (5, 5)
        assert len(collector.drain()) == 5
        assert (collector.collected, collector.pending, collector.dropped) == (5, 0, 0)
        assert collector.drain() == []

    def test_items_are_stored_as_is(self) -> None:
        collector = DataCollector[dict[str, int]]()
        item = {"x": 1}
        collector.collect(item)
        assert collector.drain()[0][0] is item

    def test_a_full_queue_drops_the_oldest_and_counts_it(self) -> None:
        collector = DataCollector[int](3)
        for i in range(10):
            collector.collect(i)
        assert collector.collected == 10
        assert collector.pending == 3
        assert collector.dropped == 7
        assert [item for item, _ in collector.drain()] == [7, 8, 9]
        assert (collector.collected, collector.pending, collector.dropped) == (10, 0, 7)

    def test_drops_accumulate_across_drains(self) -> None:
        collector = DataCollector[int](2)
        for i in range(5):
            collector.collect(i)
        collector.drain()
        for i in range(5, 9):
            collector.collect(i)
        assert [item for item, _ in collector.drain()] == [7, 8]
        assert (collector.collected, collector.dropped) == (9, 5)

    def test_repr_shows_the_counters(self) -> None:
        collector = DataCollector[int](2)
        for i in range(3):
            collector.collect(i)
        assert repr(collector) == (
            "<DataCollector collected=3 pending=2 dropped=1 max_queue_size=2>"
        )

    @pytest.mark.parametrize(
        ("value", "error", "message"),
        [
            (-1, ValueError, r"max_queue_size must be >= 0, got -1"),
            (True, TypeError, r"max_queue_size must be an int or None, got True"),
            (3.0, TypeError, r"max_queue_size must be an int or None, got 3\.0"),
        ],
        ids=["negative", "bool", "float"],
    )
    def test_rejects_a_bad_queue_bound(
        self, value: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            DataCollector(value)


@pytest.mark.usefixtures("frequent_thread_switches")
class TestCollectFromThreads:
    def test_every_item_from_many_threads_is_collected_once(self) -> None:
        collector = DataCollector[tuple[int, int]]()
        n_threads, per_thread = 8, 5000
        start = threading.Barrier(n_threads)

        def produce(k: int) -> None:
            start.wait(JOIN_TIMEOUT)
            for i in range(per_thread):
                collector.collect((k, i))

        _run_threads(
            [
                threading.Thread(target=produce, args=(k,), name=f"producer-{k}")
                for k in range(n_threads)
            ]
        )

        items = [item for item, _ in collector.drain()]
        assert collector.collected == n_threads * per_thread
        assert sorted(items) == [
            (k, i) for k in range(n_threads) for i in range(per_thread)
        ]
        # each producer's items keep their order
        for k in range(n_threads):
            assert [i for kk, i in items if kk == k] == list(range(per_thread))

    def test_bounded_queue_counts_every_drop_from_many_threads(self) -> None:
        collector = DataCollector[int](100)
        n_threads, per_thread = 4, 5000
        start = threading.Barrier(n_threads)

        def produce(k: int) -> None:
            start.wait(JOIN_TIMEOUT)
            for i in range(per_thread):
                collector.collect(k * per_thread + i)

        _run_threads(
            [threading.Thread(target=produce, args=(k,)) for k in range(n_threads)]
        )

        total = n_threads * per_thread
        assert collector.collected == total
        assert collector.pending == 100
        assert collector.dropped == total - 100
        assert len(collector.drain()) == 100
        assert collector.dropped == total - 100

    def test_drain_while_producing_loses_and_duplicates_nothing(self) -> None:
        collector = DataCollector[int]()
        n_threads, per_thread = 3, 20_000
        done = threading.Event()
        drained: list[int] = []

        def produce(k: int) -> None:
            for i in range(per_thread):
                collector.collect(k * per_thread + i)

        def consume() -> None:
            while not done.is_set():
                drained.extend(item for item, _ in collector.drain())
            drained.extend(item for item, _ in collector.drain())

        consumer = threading.Thread(target=consume)
        consumer.start()
        _run_threads(
            [threading.Thread(target=produce, args=(k,)) for k in range(n_threads)]
        )
        done.set()
        consumer.join(JOIN_TIMEOUT)
        assert not consumer.is_alive()

        assert sorted(drained) == list(range(n_threads * per_thread))
        assert collector.pending == 0
        assert collector.dropped == 0


class TestWaiters:
    def test_fires_once_when_the_total_is_reached(self) -> None:
        collector = DataCollector[int]()
        calls = _Calls()
        collector.add_waiter(3, calls)
        collector.collect(0)
        collector.collect(1)
        assert calls.count == 0
        collector.collect(2)
        assert calls.count == 1
        for i in range(10):
            collector.collect(i)
        assert calls.count == 1

    def test_fires_in_the_collecting_thread(self) -> None:
        collector = DataCollector[int]()
        calls = _Calls()
        collector.add_waiter(1, calls)
        producer = threading.Thread(target=collector.collect, args=(0,), name="prod")
        _run_threads([producer])
        assert calls.threads == ["prod"]

    @pytest.mark.parametrize("total", [0, 2, 3], ids=["zero", "below", "equal"])
    def test_fires_at_registration_when_already_reached(self, total: int) -> None:
        collector = DataCollector[int]()
        for i in range(3):
            collector.collect(i)
        calls = _Calls()
        collector.add_waiter(total, calls)
        assert calls.threads == [threading.current_thread().name]
        collector.collect(3)
        assert calls.count == 1

    def test_drain_does_not_lower_the_total(self) -> None:
        collector = DataCollector[int]()
        collector.collect(0)
        collector.drain()
        calls = _Calls()
        collector.add_waiter(2, calls)
        assert calls.count == 0
        collector.collect(1)
        assert calls.count == 1

    def test_several_waiters_fire_each_at_its_own_total(self) -> None:
        collector = DataCollector[int]()
        first, second, third = _Calls(), _Calls(), _Calls()
        collector.add_waiter(5, second)
        collector.add_waiter(2, first)
        collector.add_waiter(5, third)
        counts = []
        for i in range(6):
            collector.collect(i)
            counts.append((first.count, second.count, third.count))
        assert counts == [
            (0, 0, 0),
            (1, 0, 0),
            (1, 0, 0),
            (1, 0, 0),
            (1, 1, 1),
            (1, 1, 1),
        ]

    def test_tokens_are_distinct(self) -> None:
        collector = DataCollector[int]()
        tokens = {collector.add_waiter(10 + i, _Calls()) for i in range(5)}
        assert len(tokens) == 5

    def test_a_removed_waiter_never_fires(self) -> None:
        collector = DataCollector[int]()
        kept, removed = _Calls(), _Calls()
        token = collector.add_waiter(2, removed)
        collector.add_waiter(3, kept)
        collector.remove_waiter(token)
        for i in range(5):
            collector.collect(i)
        assert removed.count == 0
        assert kept.count == 1

    def test_removing_a_fired_or_unknown_token_is_ignored(self) -> None:
        collector = DataCollector[int]()
        calls = _Calls()
        token = collector.add_waiter(1, calls)
        collector.collect(0)
        collector.remove_waiter(token)
        collector.remove_waiter(12345)
        later = _Calls()
        collector.add_waiter(2, later)
        collector.collect(1)
        assert (calls.count, later.count) == (1, 1)

    def test_a_waiter_can_register_again_from_its_callback(self) -> None:
        collector = DataCollector[int]()
        fired_at: list[int] = []

        def rearm() -> None:
            fired_at.append(collector.collected)
            if len(fired_at) < 3:
                collector.add_waiter(collector.collected + 2, rearm)

        collector.add_waiter(2, rearm)
        for i in range(10):
            collector.collect(i)
        assert fired_at == [2, 4, 6]

    @pytest.mark.usefixtures("frequent_thread_switches")
    def test_fires_exactly_once_under_contention(self) -> None:
        collector = DataCollector[int]()
        n_threads, per_thread = 4, 2000
        total = n_threads * per_thread
        calls = [_Calls() for _ in range(50)]
        start = threading.Barrier(n_threads + 1)

        def produce() -> None:
            start.wait(JOIN_TIMEOUT)
            for i in range(per_thread):
                collector.collect(i)

        def register() -> None:
            start.wait(JOIN_TIMEOUT)
            for k, c in enumerate(calls):
                collector.add_waiter(1 + k * total // len(calls), c)

        _run_threads(
            [threading.Thread(target=produce) for _ in range(n_threads)]
            + [threading.Thread(target=register)]
        )

        assert collector.collected == total
        assert [c.count for c in calls] == [1] * len(calls)
