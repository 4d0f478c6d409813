"""``DataUser.update()`` cost per item, against a bare ``deque.extend`` drain.

Before each timed call, BATCH items are collected (untimed) into a
``DataUser(SequentialBuffer(10_000))``; then one ``update()`` moves them into the
buffer. The baseline does the least any drain of the same items must: the same
``(item, timestamp)`` pairs sit in a plain ``deque``; it pops them all with
``popleft`` (thread-safe against producers) and ``deque.extend``s the items and
the timestamps into two bounded deques. Median ns per item over REPEATS calls,
interleaved.

- ``update.per_item.<batch>``: target ratio <= 1.3.
- ``update.add_path.<batch>``: the same ``update()`` for a buffer without the bulk
  hook (``add()`` per item, as a custom buffer), against the bulk path: context.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import repeat, starmap
from operator import itemgetter
from typing import Any

from aiotrainer import DataUser, SequentialBuffer

from ._common import median, note, report

CAPACITY = 10_000
BATCHES = (256, 10_000)
REPEATS = 201
TARGET = 1.3


class AddOnly(SequentialBuffer[Any]):
    """A SequentialBuffer that overrides add() only: update() calls it per item."""

    def add(self, data: Any) -> None:
        super().add(data)


def time_update(user: DataUser[Any], batch: int) -> float:
    collect = user.collector.collect
    for i in range(batch):
        collect(i)
    t0 = time.perf_counter()
    user.update()
    return (time.perf_counter() - t0) / batch * 1e9


def time_bare(batch: int, state: tuple[deque[Any], deque[Any], deque[Any]]) -> float:
    queue, items, stamps = state
    append, now = queue.append, time.time
    for i in range(batch):
        append((i, now()))
    t0 = time.perf_counter()
    pairs = list(starmap(queue.popleft, repeat((), len(queue))))
    items.extend(map(itemgetter(0), pairs))
    stamps.extend(map(itemgetter(1), pairs))
    del pairs  # freeing the pairs is part of the drain (update() pays it too)
    return (time.perf_counter() - t0) / batch * 1e9


def main() -> None:
    note(f"median of {REPEATS} calls per figure, interleaved; buffer {CAPACITY:,}")
    for batch in BATCHES:
        bulk = DataUser(SequentialBuffer[Any](CAPACITY))
        plain = DataUser(AddOnly(CAPACITY))
        state: tuple[deque[Any], deque[Any], deque[Any]] = (
            deque(maxlen=CAPACITY),
            deque(maxlen=CAPACITY),
            deque(maxlen=CAPACITY),
        )
        ours: list[float] = []
        bare: list[float] = []
        adds: list[float] = []
        for _ in range(REPEATS):
            ours.append(time_update(bulk, batch))
            bare.append(time_bare(batch, state))
            adds.append(time_update(plain, batch))
        value, base = median(ours), median(bare)
        report(
            f"update.per_item.{batch}",
            value,
            "ns/item",
            baseline=("deque.extend_drain", base, "ns/item"),
            target=f"ratio <= {TARGET}",
            ok=value <= TARGET * base,
        )
        report(
            f"update.add_path.{batch}",
            median(adds),
            "ns/item",
            baseline=("bulk_update", value, "ns/item"),
        )


if __name__ == "__main__":
    main()
