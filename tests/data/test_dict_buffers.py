"""DictSequentialBuffer and DictRandomReplacementBuffer (pamiq-core's)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import DataUser, DictRandomReplacementBuffer, DictSequentialBuffer


class TestDictSequentialBuffer:
    def test_lists_per_key_oldest_first(self) -> None:
        buffer = DictSequentialBuffer[int](["x", "y"], max_size=3)
        for i in range(4):
            buffer.add({"x": i, "y": 10 * i})
        assert buffer.get_data() == {"x": [1, 2, 3], "y": [10, 20, 30]}
        assert len(buffer) == 3
        assert buffer.max_size == buffer.max_queue_size == 3
        assert buffer.keys == {"x", "y"}
        buffer.keys.add("z")  # a copy
        assert buffer.keys == {"x", "y"}

    def test_empty_has_every_key(self) -> None:
        assert DictSequentialBuffer[int](["a"], 2).get_data() == {"a": []}

    def test_save_and_load_through_a_data_user(self, tmp_path: Path) -> None:
        user = DataUser(DictSequentialBuffer[int](["a"], 4))
        user.collector.collect({"a": 1})
        user.save_state(tmp_path / "u")
        assert (tmp_path / "u" / "buffer.pkl").is_file()
        other = DataUser(DictSequentialBuffer[int](["a"], 4))
        other.load_state(tmp_path / "u")
        assert other.get_data() == {"a": [1]}


class TestDictRandomReplacementBuffer:
    def test_replaces_as_the_plain_buffer_with_the_same_draws(self) -> None:
        buffer = DictRandomReplacementBuffer[int](
            ["a"], 3, replace_probability=0.5, rng=random.Random(3)
        )
        for i in range(20):
            buffer.add({"a": i})
        assert len(buffer) == 3
        assert buffer.max_size == 3 and buffer.max_queue_size == 6
        assert all(0 <= v < 20 for v in buffer.get_data()["a"])

    def test_expected_survival_length(self) -> None:
        buffer = DictRandomReplacementBuffer[int](
            ["a"], 10, expected_survival_length=1000
        )
        assert buffer.max_queue_size is not None and buffer.max_queue_size > 10


@pytest.mark.parametrize(
    "make",
    [
        lambda keys: DictSequentialBuffer[Any](keys, 4),
        lambda keys: DictRandomReplacementBuffer[Any](keys, 4),
    ],
    ids=["sequential", "random"],
)
class TestBadInput:
    def test_wrong_keys(self, make: Any) -> None:
        buffer = make(["a", "b"])
        with pytest.raises(
            ValueError,
            match=r"Data keys \{'a'\} do not match expected keys .*missing \['b'\]",
        ):
            buffer.add({"a": 1})
        with pytest.raises(ValueError, match=r"unexpected \['c'\]"):
            buffer.add({"a": 1, "b": 2, "c": 3})
        assert len(buffer) == 0

    def test_not_a_mapping(self, make: Any) -> None:
        with pytest.raises(TypeError, match="items must be mappings.*got list"):
            make(["a"]).add([1])

    @pytest.mark.parametrize("keys", ["ab", 3, [1]], ids=["str", "int", "int-key"])
    def test_bad_keys(self, make: Any, keys: Any) -> None:
        with pytest.raises(TypeError, match="keys must be"):
            make(keys)


def test_bad_sizes_and_arguments() -> None:
    with pytest.raises(ValueError, match="max_size must be >= 1, got 0"):
        DictSequentialBuffer[int](["a"], 0)
    with pytest.raises(ValueError, match="Cannot specify both"):
        DictRandomReplacementBuffer[int](["a"], 4, 0.5, 3)
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        DictRandomReplacementBuffer[int](["a"], 4, rng=3)  # type: ignore[arg-type]
