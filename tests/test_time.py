"""aiotrainer.time: pamiq-core's pausable, scalable clock."""

from __future__ import annotations

import math
import pickle
import time as real_time
from pathlib import Path

import pytest

from aiotrainer import TimeScaleError
from aiotrainer import time as clock
from aiotrainer.time import TimeController


@pytest.fixture
def controller() -> TimeController:
    return TimeController()


class TestModuleFunctions:
    def test_are_the_global_controllers_methods(self) -> None:
        glob = clock.get_global_time_controller()
        assert clock.time == glob.time
        assert clock.pause == glob.pause
        assert clock.set_time_scale == glob.set_time_scale
        assert clock.fixed_time is real_time.time
        assert clock.fixed_sleep is real_time.sleep

    def test_start_at_real_time(self) -> None:
        assert clock.time() == pytest.approx(real_time.time(), abs=0.5)


class TestScale:
    def test_defaults_to_one(self, controller: TimeController) -> None:
        assert controller.get_time_scale() == 1.0

    def test_scaled_time_runs_faster(self, controller: TimeController) -> None:
        controller.set_time_scale(100.0)
        start, real = controller.perf_counter(), real_time.perf_counter()
        real_time.sleep(0.02)
        elapsed_real = real_time.perf_counter() - real
        elapsed = controller.perf_counter() - start
        assert elapsed == pytest.approx(100 * elapsed_real, rel=0.2)

    def test_changing_the_scale_never_jumps(self, controller: TimeController) -> None:
        before = controller.monotonic()
        controller.set_time_scale(1000.0)
        after = controller.monotonic()
        assert 0 <= after - before < 0.5

    @pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, True, "2"], ids=repr)
    def test_rejects_a_bad_scale_as_pamiq_core_does(
        self, controller: TimeController, bad: object
    ) -> None:
        with pytest.raises(TimeScaleError, match="Time scale must be > 0") as info:
            controller.set_time_scale(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, AssertionError)  # pamiq-core's type
        assert isinstance(info.value, ValueError)
        assert repr(bad) in str(info.value)
        assert controller.get_time_scale() == 1.0

    def test_real_seconds_until_divides_by_the_scale(
        self, controller: TimeController
    ) -> None:
        controller.set_time_scale(10.0)
        assert controller.real_seconds_until(controller.time() + 10.0) == (
            pytest.approx(1.0, abs=0.05)
        )
        assert controller.real_seconds_until(controller.time() - 5.0) == 0.0


class TestPause:
    def test_freezes_every_clock(self, controller: TimeController) -> None:
        controller.pause()
        frozen = (controller.time(), controller.perf_counter(), controller.monotonic())
        real_time.sleep(0.01)
        assert (
            controller.time(),
            controller.perf_counter(),
            controller.monotonic(),
        ) == (frozen)
        assert controller.is_paused()

    def test_resume_continues_from_where_it_stopped(
        self, controller: TimeController
    ) -> None:
        controller.pause()
        frozen = controller.time()
        real_time.sleep(0.05)
        controller.resume()
        assert 0 <= controller.time() - frozen < 0.04
        assert not controller.is_paused()

    def test_pause_and_resume_are_idempotent(self, controller: TimeController) -> None:
        controller.pause()
        frozen = controller.time()
        controller.pause()
        assert controller.time() == frozen
        controller.resume()
        controller.resume()
        assert not controller.is_paused()

    def test_sleep_returns_at_once_while_paused(
        self, controller: TimeController
    ) -> None:
        controller.pause()
        start = real_time.perf_counter()
        controller.sleep(10.0)
        assert real_time.perf_counter() - start < 1.0

    def test_sleep_is_scaled(self, controller: TimeController) -> None:
        controller.set_time_scale(100.0)
        start = real_time.perf_counter()
        controller.sleep(1.0)
        assert real_time.perf_counter() - start < 0.5


class TestState:
    def test_state_dict_round_trip_continues_the_clock(
        self, controller: TimeController
    ) -> None:
        controller.set_time_scale(5.0)
        state = controller.state_dict()
        other = TimeController()
        other.load_state_dict(state)
        assert other.time() == pytest.approx(state["scaled_anchor_time"], abs=0.1)
        assert other.get_time_scale() == 1.0  # the scale is not state, as in pamiq

    def test_load_state_dict_with_a_missing_entry_raises(
        self, controller: TimeController
    ) -> None:
        with pytest.raises(KeyError, match="scaled_anchor_monotonic"):
            controller.load_state_dict({"scaled_anchor_time": 1.0})  # type: ignore[typeddict-item]

    def test_saves_time_pkl_as_pamiq_core(
        self, controller: TimeController, tmp_path: Path
    ) -> None:
        controller.pause()
        controller.save_state(tmp_path / "time")
        with open(tmp_path / "time.pkl", "rb") as f:
            saved = pickle.load(f)
        assert set(saved) == {
            "scaled_anchor_time",
            "scaled_anchor_monotonic",
            "scaled_anchor_perf_counter",
        }
        other = TimeController()
        other.load_state(tmp_path / "time")
        assert other.time() == pytest.approx(controller.time(), abs=0.1)

    def test_load_state_without_the_file_raises(
        self, controller: TimeController, tmp_path: Path
    ) -> None:
        with pytest.raises(FileNotFoundError, match="time.pkl"):
            controller.load_state(tmp_path / "time")
