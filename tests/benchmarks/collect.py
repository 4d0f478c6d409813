"""collect() throughput: one producer thread, a consumer thread calling update().

Figures (items/s, median of REPEATS runs of N items each):

- ``collect.tight_consumer``: a consumer thread calls ``DataUser.update()`` in a
  tight loop while the producer collects.
- ``collect.1ms_consumer``: the consumer calls ``update()`` every 1 ms, as a
  trainer would.
- ``collect.no_consumer``: nobody drains until the producer is done.

The baseline of each is a bare ``collections.deque.append`` loop with the same
consumer pattern (draining with ``popleft`` into a bounded deque), measured in
the same run, interleaved. ``collect.lost_items`` checks that after a final
``update()`` every item is stored or counted as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat

from aiotrainer import DataUser, SequentialBuffer

from ._common import median, note, report

N = 1_000_000
REPEATS = 5
BUFFER = 100_000
TARGET = 1_500_000
PATTERNS: dict[str, float | None] = {
    "tight_consumer": 0.0,
    "1ms_consumer": 0.001,
    "no_consumer": None,
}
ITEM = ("observation", 0.0)


def _deque_pair() -> tuple[Callable[[object], None], Callable[[], int]]:
    queue: deque[object] = deque()
    sink: deque[object] = deque(maxlen=BUFFER)

    def consume() -> int:
        pop = queue.popleft
        n = len(queue)
        sink.extend([pop() for _ in repeat(None, n)])
        return n

    return queue.append, consume


def _run(impl: str, period: float | None) -> tuple[float, int]:
    """One run of N items; returns (items/s, items unaccounted for)."""
    user: DataUser[SequentialBuffer[object]] | None = None
    if impl == "aiotrainer":
        user = DataUser(SequentialBuffer(BUFFER))
        produce: Callable[[object], None] = user.collector.collect
        consume: Callable[[], int] = user.update
    else:
        produce, consume = _deque_pair()

    start = threading.Barrier(2 if period is not None else 1)
    done = threading.Event()
    elapsed: list[float] = []

    def producer() -> None:
        start.wait()
        t0 = time.perf_counter()
        for _ in repeat(None, N):
            produce(ITEM)
        elapsed.append(time.perf_counter() - t0)
        done.set()

    def consumer(period: float) -> None:
        start.wait()
        if period:
            while not done.is_set():
                consume()
                time.sleep(period)
        else:
            is_done = done.is_set
            while not is_done():
                consume()

    threads = [threading.Thread(target=producer, name="bench-producer")]
    if period is not None:
        threads.append(
            threading.Thread(target=consumer, args=(period,), name="bench-consumer")
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    consume()  # the final drain
    lost = 0
    if user is not None:
        stats = user.statistics()
        lost = abs(N - stats.collected) + abs(N - stats.stored - stats.dropped)
        lost += stats.pending
    return N / elapsed[0], lost


def main() -> None:
    rates: dict[tuple[str, str], list[float]] = {}
    lost_total = 0
    for _ in range(REPEATS):
        for pattern, period in PATTERNS.items():
            for impl in ("aiotrainer", "deque"):
                rate, lost = _run(impl, period)
                rates.setdefault((pattern, impl), []).append(rate)
                lost_total += lost
    note(f"{N:,} items per run, median of {REPEATS} runs, buffer {BUFFER:,}")
    for pattern in PATTERNS:
        value = median(rates[pattern, "aiotrainer"])
        base = median(rates[pattern, "deque"])
        report(
            f"collect.{pattern}",
            value,
            "items/s",
            baseline=("deque.append", base, "items/s"),
            target=f">= {TARGET:,} items/s",
            ok=value >= TARGET,
        )
    report(
        "collect.lost_items",
        lost_total,
        "items",
        target="== 0 (stored + dropped == collected)",
        ok=lost_total == 0,
    )


if __name__ == "__main__":
    main()
