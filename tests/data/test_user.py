"""DataUser: moving collected items into the buffer, counting, saving."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    DataBuffer,
    DataUser,
    DataUserStatistics,
    RandomReplacementBuffer,
    SequentialBuffer,
    time,
)


class JsonBuffer(DataBuffer[int, list[int]]):
    """A buffer without capture_state(): saving it goes through save_state()."""

    def __init__(self) -> None:
        super().__init__(max_queue_size=1000)
        self.items: list[int] = []

    def add(self, data: int) -> None:
        self.items.append(data)

    def get_data(self) -> list[int]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def save_state(self, path: Path) -> None:
        path.with_suffix(".json").write_text(json.dumps(self.items))

    def load_state(self, path: Path) -> None:
        self.items = json.loads(path.with_suffix(".json").read_text())


def _saved_timestamps(user: DataUser[Any], path: Path) -> list[float]:
    user.save_state(path)
    with (path / "timestamps.pkl").open("rb") as f:
        stamps: list[float] = pickle.load(f)
    return stamps


def _strictly_later() -> float:
    """A time.time() strictly after every earlier reading (no sleep: a spin)."""
    first = time.time()
    while (now := time.time()) == first:
        pass
    return now


def _stats_add_up(stats: DataUserStatistics) -> bool:
    return (
        stats.collected == stats.pending + stats.stored + stats.dropped
        and stats.dropped == stats.dropped_in_queue + stats.dropped_in_buffer
    )


class TestConstruction:
    def test_makes_a_collector_bounded_like_the_buffer(self) -> None:
        buffer = SequentialBuffer[int](7)
        user = DataUser(buffer)
        assert user.buffer is buffer
        assert user.collector.max_queue_size == 7
        assert len(user) == 0
        assert user.get_data() == []

    @pytest.mark.parametrize(
        "buffer",
        [None, [1, 2], SequentialBuffer],
        ids=["none", "list", "buffer-class"],
    )
    def test_rejects_a_non_buffer(self, buffer: Any) -> None:
        with pytest.raises(TypeError, match=r"DataUser needs a DataBuffer, got "):
            DataUser(buffer)

    def test_repr_names_the_buffer(self) -> None:
        user = DataUser(SequentialBuffer[int](3))
        user.collector.collect(1)
        user.update()
        assert repr(user) == "<DataUser buffer=SequentialBuffer len=1>"


class TestUpdate:
    def test_collected_items_reach_the_buffer_only_on_update(self) -> None:
        user = DataUser(SequentialBuffer[int](10))
        for i in range(3):
            user.collector.collect(i)
        assert len(user) == 0
        assert user.buffer.get_data() == []
        assert user.update() == 3
        assert user.buffer.get_data() == [0, 1, 2]
        assert len(user) == 3
        assert user.stored_hint == 3

    def test_get_data_updates_first(self) -> None:
        # pamiq-core's get_data() calls update(): a trainer reading a data user
        # other than its condition's one sees the new items
        user = DataUser(SequentialBuffer[int](10))
        for i in range(3):
            user.collector.collect(i)
        assert user.get_data() == [0, 1, 2]
        assert len(user) == 3

    def test_update_with_nothing_pending_moves_nothing(self) -> None:
        user = DataUser(SequentialBuffer[int](10))
        assert user.update() == 0
        user.collector.collect(1)
        user.update()
        assert user.update() == 0
        assert user.get_data() == [1]

    def test_count_data_added_since_uses_the_collection_time(self) -> None:
        user = DataUser(SequentialBuffer[int](10))
        for i in range(3):
            user.collector.collect(i)
        middle = _strictly_later()
        for i in range(3, 5):
            user.collector.collect(i)
        assert user.count_data_added_since(middle) == 0  # nothing moved in yet
        user.update()
        assert user.count_data_added_since(-math.inf) == 5
        assert user.count_data_added_since(middle) == 2
        assert user.count_data_added_since(time.time() + 1) == 0

    def test_count_excludes_an_item_stamped_exactly_at_the_timestamp(
        self, tmp_path: Path
    ) -> None:
        # pamiq-core counts items stamped strictly after the timestamp
        user = DataUser(SequentialBuffer[int](10))
        for i in range(4):
            user.collector.collect(i)
        stamps = _saved_timestamps(user, tmp_path / "user")
        last = len(stamps) - 1 - stamps[::-1].index(stamps[2])
        assert user.count_data_added_since(stamps[2]) == 4 - 1 - last
        assert user.count_data_added_since(stamps[-1]) == 0

    def test_count_is_capped_by_the_buffer_capacity(self) -> None:
        user = DataUser(SequentialBuffer[int](4))
        for i in range(3):
            user.collector.collect(i)
            user.update()
        for i in range(3, 6):
            user.collector.collect(i)
            user.update()
        assert user.count_data_added_since(-math.inf) == 4

    def test_statistics_count_every_item(self) -> None:
        user = DataUser(SequentialBuffer[int](3))
        for i in range(5):
            user.collector.collect(i)
        stats = user.statistics()
        assert stats == DataUserStatistics(
            collected=5,
            pending=3,
            stored=0,
            dropped=2,
            dropped_in_queue=2,
            dropped_in_buffer=0,
        )
        assert _stats_add_up(stats)

        user.update()
        for i in range(5, 7):
            user.collector.collect(i)
        user.update()
        stats = user.statistics()
        # 3 moved in first, then 2 more evicted the 2 oldest of them
        assert stats == DataUserStatistics(
            collected=7,
            pending=0,
            stored=3,
            dropped=4,
            dropped_in_queue=2,
            dropped_in_buffer=2,
        )
        assert _stats_add_up(stats)
        assert user.get_data() == [4, 5, 6]

    def test_statistics_count_items_a_random_buffer_discards(self) -> None:
        user = DataUser(RandomReplacementBuffer[int](5, replace_probability=0.0))
        for i in range(5):
            user.collector.collect(i)
        user.update()
        for i in range(5, 10):
            user.collector.collect(i)
        user.update()
        stats = user.statistics()
        assert stats.stored == 5
        assert stats.dropped_in_buffer == 5
        assert stats.dropped_in_queue == 0
        assert _stats_add_up(stats)
        assert user.get_data() == [0, 1, 2, 3, 4]

    @pytest.mark.parametrize(
        "probability", [0.0, 0.3, 1.0], ids=["never", "sometimes", "always"]
    )
    def test_statistics_add_up_with_a_random_buffer(self, probability: float) -> None:
        user = DataUser(RandomReplacementBuffer[int](8, probability))
        for i in range(200):
            user.collector.collect(i)
            if i % 7 == 0:
                user.update()
        assert _stats_add_up(user.statistics())
        user.update()
        stats = user.statistics()
        assert _stats_add_up(stats)
        assert stats.collected == 200
        assert stats.pending == 0
        assert stats.stored == 8


class TestSaveLoad:
    def test_round_trip_restores_items_and_timestamps(self, tmp_path: Path) -> None:
        user = DataUser(SequentialBuffer[str](5))
        for item in "abc":
            user.collector.collect(item)
        user.update()
        cut = _strictly_later()
        user.collector.collect("d")  # pending: save_state moves it in first

        user.save_state(tmp_path / "user")

        assert (tmp_path / "user").is_dir()
        assert (tmp_path / "user" / "buffer.pkl").is_file()
        with (tmp_path / "user" / "timestamps.pkl").open("rb") as f:
            stamps = pickle.load(f)
        assert len(stamps) == 4
        assert stamps == sorted(stamps)

        restored = DataUser(SequentialBuffer[str](5))
        restored.load_state(tmp_path / "user")
        assert restored.get_data() == ["a", "b", "c", "d"]
        assert len(restored) == 4
        assert restored.stored_hint == 4
        assert restored.count_data_added_since(cut) == 1
        assert restored.count_data_added_since(-math.inf) == 4

    def test_save_into_an_existing_path_refuses(self, tmp_path: Path) -> None:
        (tmp_path / "user").mkdir()
        with pytest.raises(FileExistsError):
            DataUser(SequentialBuffer[int](2)).save_state(tmp_path / "user")

    def test_loading_then_collecting_keeps_going(self, tmp_path: Path) -> None:
        user = DataUser(SequentialBuffer[int](3))
        for i in range(3):
            user.collector.collect(i)
        user.save_state(tmp_path / "user")

        restored = DataUser(SequentialBuffer[int](3))
        restored.load_state(tmp_path / "user")
        restored.collector.collect(3)
        restored.update()
        assert restored.get_data() == [1, 2, 3]
        assert restored.count_data_added_since(-math.inf) == 3


class TestCaptureState:
    def test_writes_the_state_as_of_the_capture(self, tmp_path: Path) -> None:
        user = DataUser(SequentialBuffer[int](3))
        for i in range(2):
            user.collector.collect(i)
        write = user.capture_state()
        assert user.statistics().pending == 0  # captured after an update
        for i in range(2, 5):
            user.collector.collect(i)
        user.update()

        write(tmp_path / "user")

        restored = DataUser(SequentialBuffer[int](3))
        restored.load_state(tmp_path / "user")
        assert restored.get_data() == [0, 1]
        assert restored.count_data_added_since(-math.inf) == 2
        assert user.get_data() == [2, 3, 4]

    def test_a_random_buffer_snapshot_is_a_copy(self, tmp_path: Path) -> None:
        user = DataUser(RandomReplacementBuffer[int](2))
        for i in range(2):
            user.collector.collect(i)
        write = user.capture_state()
        for i in range(2, 10):
            user.collector.collect(i)
        user.update()
        write(tmp_path / "user")
        restored = DataUser(RandomReplacementBuffer[int](2))
        restored.load_state(tmp_path / "user")
        assert restored.get_data() == [0, 1]

    def test_a_buffer_without_snapshots_is_saved_at_capture_time(
        self, tmp_path: Path
    ) -> None:
        user = DataUser(JsonBuffer())
        for i in range(3):
            user.collector.collect(i)
        write = user.capture_state()
        user.collector.collect(3)
        user.update()

        write(tmp_path / "user")

        assert sorted(p.name for p in (tmp_path / "user").iterdir()) == [
            "buffer.json",
            "timestamps.pkl",
        ]
        restored = DataUser(JsonBuffer())
        restored.load_state(tmp_path / "user")
        assert restored.get_data() == [0, 1, 2]
        assert user.get_data() == [0, 1, 2, 3]

    def test_save_state_of_a_buffer_without_snapshots(self, tmp_path: Path) -> None:
        user = DataUser(JsonBuffer())
        user.collector.collect(5)
        user.save_state(tmp_path / "user")
        restored = DataUser(JsonBuffer())
        restored.load_state(tmp_path / "user")
        assert restored.get_data() == [5]
