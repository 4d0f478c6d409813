"""SequentialBuffer and RandomReplacementBuffer: pamiq-core's semantics."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import DataBuffer, RandomReplacementBuffer, SequentialBuffer

GAMMA = 0.5772156649015329

BAD_SIZES = pytest.mark.parametrize(
    ("max_size", "error", "message"),
    [
        (0, ValueError, r"max_size must be >= 1, got 0"),
        (-3, ValueError, r"max_size must be >= 1, got -3"),
        (True, TypeError, r"max_size must be an int, got True"),
        (2.0, TypeError, r"max_size must be an int, got 2\.0"),
        ("4", TypeError, r"max_size must be an int, got '4'"),
        (None, TypeError, r"max_size must be an int, got None"),
    ],
    ids=["zero", "negative", "bool", "float", "str", "none"],
)


class TestDataBuffer:
    class _Unbounded(DataBuffer[int, list[int]]):
        def __init__(self, max_queue_size: int | None = None) -> None:
            super().__init__(max_queue_size)
            self.items: list[int] = []

        def add(self, data: int) -> None:
            self.items.append(data)

        def get_data(self) -> list[int]:
            return list(self.items)

        def __len__(self) -> int:
            return len(self.items)

    def test_defaults_to_no_bounds_and_warns_as_pamiq_core(self) -> None:
        with pytest.warns(RuntimeWarning, match="max_queue_size is None"):
            buffer = self._Unbounded()
        assert buffer.max_queue_size is None
        assert buffer.max_size is None

    def test_keeps_a_queue_bound(self) -> None:
        assert self._Unbounded(7).max_queue_size == 7

    @pytest.mark.parametrize(
        ("value", "error", "message"),
        [
            (-1, ValueError, r"max_queue_size must be non-negative.*got -1"),
            (False, TypeError, r"max_queue_size must be an int or None, got False"),
            (1.5, TypeError, r"max_queue_size must be an int or None, got 1\.5"),
        ],
        ids=["negative", "bool", "float"],
    )
    def test_rejects_a_bad_queue_bound(
        self, value: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            self._Unbounded(value)

    def test_a_zero_queue_bound_is_valid(self) -> None:
        # pamiq-core accepts 0: nothing waits in the queue, no timestamp is kept
        assert self._Unbounded(0).max_queue_size == 0

    def test_is_abstract(self) -> None:
        with pytest.raises(TypeError, match="abstract"):
            DataBuffer()  # type: ignore[abstract]


class TestSequentialBuffer:
    def test_keeps_items_in_arrival_order(self) -> None:
        buffer = SequentialBuffer[int](5)
        for i in range(3):
            buffer.add(i)
        assert buffer.get_data() == [0, 1, 2]
        assert len(buffer) == 3

    def test_drops_the_oldest_when_full(self) -> None:
        buffer = SequentialBuffer[int](3)
        for i in range(5):
            buffer.add(i)
        assert buffer.get_data() == [2, 3, 4]
        assert len(buffer) == 3

    def test_capacity_bounds_the_collector_queue_too(self) -> None:
        buffer = SequentialBuffer[int](5)
        assert buffer.max_size == 5
        assert buffer.max_queue_size == 5

    def test_get_data_returns_a_copy(self) -> None:
        buffer = SequentialBuffer[int](3)
        buffer.add(1)
        data = buffer.get_data()
        data.append(99)
        assert buffer.get_data() == [1]

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        buffer = SequentialBuffer[str](4)
        for item in "abcdef":
            buffer.add(item)
        buffer.save_state(tmp_path / "buffer")

        saved = tmp_path / "buffer.pkl"
        assert saved.is_file()
        with saved.open("rb") as f:
            assert pickle.load(f) == ["c", "d", "e", "f"]

        restored = SequentialBuffer[str](4)
        restored.load_state(tmp_path / "buffer")
        assert restored.get_data() == ["c", "d", "e", "f"]
        restored.add("g")
        assert restored.get_data() == ["d", "e", "f", "g"]

    def test_load_into_a_smaller_buffer_keeps_the_newest(self, tmp_path: Path) -> None:
        buffer = SequentialBuffer[int](5)
        for i in range(5):
            buffer.add(i)
        buffer.save_state(tmp_path / "buffer")
        smaller = SequentialBuffer[int](2)
        smaller.load_state(tmp_path / "buffer")
        assert smaller.get_data() == [3, 4]

    def test_load_of_a_missing_file_raises(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            SequentialBuffer[int](2).load_state(tmp_path / "nothing")

    @BAD_SIZES
    def test_rejects_a_bad_max_size(
        self, max_size: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            SequentialBuffer(max_size)


def _fill(buffer: RandomReplacementBuffer[int], n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        buffer.add(i)


class TestRandomReplacementBuffer:
    def test_fills_in_order_up_to_max_size(self) -> None:
        buffer = RandomReplacementBuffer[int](4, replace_probability=0.0)
        _fill(buffer, 3)
        assert buffer.get_data() == [0, 1, 2]
        assert not buffer.is_full
        buffer.add(3)
        assert buffer.get_data() == [0, 1, 2, 3]
        assert buffer.is_full
        assert len(buffer) == 4

    def test_defaults_to_always_replacing(self) -> None:
        buffer = RandomReplacementBuffer[int](4)
        assert buffer.replace_probability == 1.0
        _fill(buffer, 4)
        for item in range(100, 200):
            buffer.add(item)
            data = buffer.get_data()
            assert item in data
            assert len(data) == 4

    def test_probability_zero_discards_every_new_item(self) -> None:
        buffer = RandomReplacementBuffer[int](4, replace_probability=0.0)
        _fill(buffer, 4)
        _fill(buffer, 1000, start=100)
        assert buffer.get_data() == [0, 1, 2, 3]

    def test_replaces_with_the_given_probability(self) -> None:
        buffer = RandomReplacementBuffer[int](10, replace_probability=0.5)
        _fill(buffer, 10)
        trials = 10_000
        replaced = 0
        for item in range(100, 100 + trials):
            buffer.add(item)
            replaced += item in buffer.get_data()
        # Binomial(10000, 0.5): the standard deviation is 50; allow 10 of them.
        assert 4500 <= replaced <= 5500
        assert len(buffer) == 10

    def test_replaces_a_uniformly_chosen_slot(self) -> None:
        size, trials = 4, 8000
        buffer = RandomReplacementBuffer[int](size)
        _fill(buffer, size)
        hits = [0] * size
        for item in range(100, 100 + trials):
            buffer.add(item)
            hits[buffer.get_data().index(item)] += 1
        # Binomial(8000, 1/4) per slot: the standard deviation is about 39.
        assert all(1700 <= h <= 2300 for h in hits), hits

    def test_get_data_returns_a_copy(self) -> None:
        buffer = RandomReplacementBuffer[int](3)
        buffer.add(1)
        buffer.get_data().append(2)
        assert buffer.get_data() == [1]

    @pytest.mark.parametrize(
        ("probability", "queue"),
        [(1.0, 10), (0.5, 20), (0.3, 33), (0.0, 10)],
        ids=["always", "half", "third", "never"],
    )
    def test_queue_bound_is_max_size_over_probability(
        self, probability: float, queue: int
    ) -> None:
        buffer = RandomReplacementBuffer[int](10, replace_probability=probability)
        assert buffer.max_size == 10
        assert buffer.max_queue_size == queue

    @pytest.mark.parametrize(
        ("max_size", "survival", "expected"),
        [
            (10, 100, 10 / 100 * (math.log(10) + GAMMA)),
            (1, 10, GAMMA / 10),
            (1000, 1_000_000, 1000 / 1_000_000 * (math.log(1000) + GAMMA)),
            (100, 10, 1.0),
        ],
        ids=["ten", "one", "thousand", "clamped-to-one"],
    )
    def test_expected_survival_length_sets_the_probability(
        self, max_size: int, survival: int, expected: float
    ) -> None:
        computed = RandomReplacementBuffer.compute_replace_probability_from_expected_survival_length(
            max_size, survival
        )
        assert computed == pytest.approx(expected)
        buffer = RandomReplacementBuffer[int](
            max_size, expected_survival_length=survival
        )
        assert buffer.replace_probability == pytest.approx(expected)
        assert 0.0 < buffer.replace_probability <= 1.0

    def test_longer_survival_means_fewer_replacements(self) -> None:
        short = RandomReplacementBuffer[int](50, expected_survival_length=500)
        long = RandomReplacementBuffer[int](50, expected_survival_length=5000)
        assert long.replace_probability < short.replace_probability

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        buffer = RandomReplacementBuffer[int](5, replace_probability=0.7)
        _fill(buffer, 50)
        expected = buffer.get_data()
        buffer.save_state(tmp_path / "buffer")
        assert (tmp_path / "buffer.pkl").is_file()

        restored = RandomReplacementBuffer[int](5, replace_probability=0.7)
        restored.load_state(tmp_path / "buffer")
        assert restored.get_data() == expected
        assert restored.is_full

    def test_load_into_a_smaller_buffer_truncates(self, tmp_path: Path) -> None:
        buffer = RandomReplacementBuffer[int](5, replace_probability=0.0)
        _fill(buffer, 5)
        buffer.save_state(tmp_path / "buffer")
        smaller = RandomReplacementBuffer[int](3)
        smaller.load_state(tmp_path / "buffer")
        assert smaller.get_data() == [0, 1, 2]
        assert len(smaller) == 3

    @BAD_SIZES
    def test_rejects_a_bad_max_size(
        self, max_size: Any, error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            RandomReplacementBuffer(max_size)

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (
                {"replace_probability": -0.1},
                ValueError,
                r"replace_probability must be in \[0, 1\], got -0\.1",
            ),
            (
                {"replace_probability": 1.5},
                ValueError,
                r"replace_probability must be in \[0, 1\], got 1\.5",
            ),
            (
                {"replace_probability": float("nan")},
                ValueError,
                r"replace_probability must be in \[0, 1\], got nan",
            ),
            (
                {"replace_probability": True},
                TypeError,
                r"replace_probability must be a number in \[0, 1\], got True",
            ),
            (
                {"replace_probability": "0.5"},
                TypeError,
                r"replace_probability must be a number in \[0, 1\], got '0\.5'",
            ),
            (
                {"expected_survival_length": 0},
                ValueError,
                r"expected_survival_length must be >= 1, got 0",
            ),
            (
                {"expected_survival_length": 2.5},
                TypeError,
                r"expected_survival_length must be an int, got 2\.5",
            ),
            (
                {"expected_survival_length": True},
                TypeError,
                r"expected_survival_length must be an int, got True",
            ),
            (
                {"replace_probability": 0.5, "expected_survival_length": 10},
                ValueError,
                r"Cannot specify both replace_probability and expected_survival.*",
            ),
        ],
        ids=[
            "p-negative",
            "p-above-one",
            "p-nan",
            "p-bool",
            "p-str",
            "survival-zero",
            "survival-float",
            "survival-bool",
            "both",
        ],
    )
    def test_rejects_bad_arguments(
        self, kwargs: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            RandomReplacementBuffer(10, **kwargs)
