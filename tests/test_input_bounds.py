"""Values that were accepted silently and broke later: each is refused at once,
naming the value and the bound (issue #9, fault 14)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from aiotrainer import (
    ErrorPolicy,
    RandomReplacementBuffer,
    SequentialBuffer,
    TrainerService,
)
from aiotrainer.state import RetentionPolicy


class TestInputBounds:
    def test_keep_every_without_keep_last(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"keep_every=4 needs keep_last"):
            TrainerService(state_dir=tmp_path, keep_every=4)
        with pytest.raises(ValueError, match=r"keep_every=4 needs keep_last"):
            RetentionPolicy(keep_every=4)

    def test_max_backoff_below_backoff(self) -> None:
        with pytest.raises(
            ValueError, match=r"max_backoff must be >= backoff \(2\.0\), got 1\.0"
        ):
            ErrorPolicy("retry", backoff=2.0, max_backoff=1.0)

    @pytest.mark.parametrize("interval", [1e-9, 0.001], ids=["1e-9", "1ms"])
    def test_save_interval_below_the_floor(
        self, tmp_path: Path, interval: float
    ) -> None:
        with pytest.raises(
            ValueError, match=rf"save_interval must be >= 0\.01 seconds.*{interval!r}"
        ):
            TrainerService(state_dir=tmp_path, save_interval=interval)

    def test_a_replace_probability_that_unbounds_the_queue(self) -> None:
        with pytest.raises(
            ValueError,
            match=r"replace_probability=1e-300 with max_size=5 makes the collector "
            r"queue bound .* = 5e\+300 items; expected replace_probability >= ",
        ):
            RandomReplacementBuffer(5, replace_probability=1e-300)

    @pytest.mark.parametrize(
        "make",
        [SequentialBuffer, RandomReplacementBuffer],
        ids=["sequential", "random-replacement"],
    )
    def test_a_max_size_past_the_largest_deque(self, make: Any) -> None:
        with pytest.raises(
            ValueError,
            match=rf"max_size must be <= {sys.maxsize}, got 10000000000000000000",
        ):
            make(10**19)

    def test_the_bounds_themselves_are_accepted(self, tmp_path: Path) -> None:
        ErrorPolicy("retry", backoff=1.0, max_backoff=1.0)
        TrainerService(
            state_dir=tmp_path, save_interval=0.01, keep_last=1, keep_every=2
        )
        assert SequentialBuffer(sys.maxsize).max_size == sys.maxsize
        buffer = RandomReplacementBuffer(5, replace_probability=5 / 2**62)
        assert buffer.max_queue_size == 2**62
