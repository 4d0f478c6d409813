"""Checkpoint cost: save throughput for 100 MB of buffer data, and how long
trainers are held quiesced during the save.

Baseline: the same bytes (the pickled buffer) written with one plain file write
and one fsync, measured in the same run, interleaved. Targets: save throughput
>= 0.8x the baseline's; the time trainers are held <= 10 % of the whole save.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

from aiotrainer import SequentialBuffer, Trainer, TrainerService

from ._common import median, note, report, run_on, settle

ITEM_BYTES = 4096
ITEMS = 100_000_000 // ITEM_BYTES  # 100 MB of payload
REPEATS = 5


class Idle(Trainer):
    """Waits for data that the benchmark never sends after filling the buffer."""

    def __init__(self) -> None:
        super().__init__("data", min_new_data_count=ITEMS + 1)

    def train(self) -> None:  # pragma: no cover - never trainable here
        pass


def plain_write(items: list[bytes], directory: Path) -> float:
    """Seconds to pickle ``items`` into one file with one write and fsync."""
    start = time.perf_counter()
    blob = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    fd = os.open(directory / "plain.pkl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


async def measure(root: Path) -> None:
    items = [os.urandom(ITEM_BYTES) for _ in range(ITEMS)]
    payload_mb = sum(map(len, items)) / 1e6
    service = TrainerService(
        buffers={"data": SequentialBuffer(ITEMS + 1)},
        trainers={"idle": Idle()},
        state_dir=root / "state",
        keep_last=1,
        save_on_shutdown=False,
    )
    saves: list[float] = []
    helds: list[float] = []
    plains: list[float] = []
    async with service:
        collector = service.data_collectors.acquire("data")
        for item in items:
            collector.collect(item)
        for _ in range(REPEATS):
            settle(0.1)
            plains.append(plain_write(items, root))
            (root / "plain.pkl").unlink()
            settle(0.1)
            await service.save_state()
            assert service.last_save_duration is not None
            assert service.last_save_held is not None
            saves.append(service.last_save_duration)
            helds.append(service.last_save_held)
    note(f"{ITEMS:,} items of {ITEM_BYTES} B = {payload_mb:.0f} MB; {REPEATS} saves")
    note("save s: " + ", ".join(f"{s:.2f}" for s in saves))
    note("plain s: " + ", ".join(f"{s:.2f}" for s in plains))
    save_s, plain_s, held_s = median(saves), median(plains), median(helds)
    throughput, baseline = payload_mb / save_s, payload_mb / plain_s
    report(
        "checkpoint.save_throughput",
        throughput,
        "MB/s",
        baseline=("plain_write+fsync", baseline, "MB/s"),
        target="ratio >= 0.8",
        ok=throughput / baseline >= 0.8,
    )
    report(
        "checkpoint.held_paused",
        held_s * 1000,
        "ms",
        baseline=("whole_save", save_s * 1000, "ms"),
        target="ratio <= 0.10",
        ok=held_s / save_s <= 0.10,
    )


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="aiotrainer-bench-", dir=Path.cwd()))
    try:
        run_on("uvloop", lambda: measure(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
