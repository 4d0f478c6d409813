"""DataUser.capture_state(): snapshot now, write later."""

from __future__ import annotations

import gc
import glob
import tempfile
from pathlib import Path
from typing import Any

from aiotrainer import DataBuffer, DataUser, SequentialBuffer


class PlainBuffer(DataBuffer[Any, list[Any]]):
    """A user-defined buffer without capture_state(): staged via save_state()."""

    def __init__(self) -> None:
        super().__init__(max_queue_size=1000)
        self.items: list[Any] = []

    def add(self, data: Any) -> None:
        self.items.append(data)

    def get_data(self) -> list[Any]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def save_state(self, path: Path) -> None:
        path.with_suffix(".txt").write_text(repr(self.items))


def _staged() -> set[str]:
    return set(glob.glob(f"{tempfile.gettempdir()}/aiotrainer-stage-*"))


def test_snapshot_is_taken_at_capture_time(tmp_path: Path) -> None:
    user = DataUser(SequentialBuffer(10))
    for i in range(3):
        user.collector.collect(i)
    write = user.capture_state()
    for i in range(3, 6):
        user.collector.collect(i)
    user.update()
    write(tmp_path / "u")
    restored = DataUser(SequentialBuffer(10))
    restored.load_state(tmp_path / "u")
    assert restored.get_data() == [0, 1, 2]


def test_buffer_without_capture_is_staged_then_moved(tmp_path: Path) -> None:
    user = DataUser(PlainBuffer())
    user.collector.collect("a")
    before = _staged()
    write = user.capture_state()
    user.collector.collect("b")
    user.update()
    write(tmp_path / "u")
    assert (tmp_path / "u" / "buffer.txt").read_text() == "['a']"
    assert _staged() == before  # the staging directory is gone


def test_an_unused_snapshot_leaves_nothing_behind() -> None:
    user = DataUser(PlainBuffer())
    user.collector.collect("a")
    before = _staged()
    write = user.capture_state()
    assert len(_staged() - before) == 1
    del write
    gc.collect()
    assert _staged() == before
