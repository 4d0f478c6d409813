"""Trainer.log_metrics and the run records the scheduler keeps."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import anyio
import pytest

from aiotrainer import EventKind, SequentialBuffer, TrainerService
from aiotrainer.trainer.metrics import DURATION_BUCKETS, MetricsRecorder
from helpers import DEADLINE, InstrumentedTrainer, Journal, make_service, next_event


class TestLogValidation:
    @pytest.mark.parametrize(
        ("values", "match"),
        [
            ([("loss", 1.0)], "needs a mapping of name -> number, got list"),
            ({"": 1.0}, "metric names must be non-empty strings, got ''"),
            ({3: 1.0}, "metric names must be non-empty strings, got 3"),
            ({"loss": "low"}, "metric 'loss' must be a real number, got str: 'low'"),
            ({"ok": True}, "metric 'ok' must be a real number, got bool"),
            ({"c": 1j}, "metric 'c' must be a real number, got complex"),
        ],
        ids=["list", "empty-name", "int-name", "str-value", "bool", "complex"],
    )
    def test_bad_values_are_refused_naming_them(
        self, values: object, match: str
    ) -> None:
        recorder = MetricsRecorder()
        with pytest.raises(TypeError, match=match):
            recorder.log(values)  # type: ignore[arg-type]
        assert recorder.history() == []

    def test_max_history_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="max_history must be >= 1, got 0"):
            MetricsRecorder(max_history=0)
        with pytest.raises(TypeError, match="max_history must be an int"):
            MetricsRecorder(max_history=2.5)  # type: ignore[arg-type]


class TestRecorder:
    def test_non_finite_values_are_kept(self) -> None:
        recorder = MetricsRecorder()
        recorder.log({"nan": math.nan, "inf": math.inf, "neg": -math.inf, "i": 3})
        latest = recorder.latest()
        assert math.isnan(latest["nan"])
        assert latest["inf"] == math.inf and latest["neg"] == -math.inf
        assert latest["i"] == 3.0 and isinstance(latest["i"], float)

    def test_history_is_bounded_oldest_first_out(self) -> None:
        recorder = MetricsRecorder(max_history=3)
        for step in range(5):
            recorder.log({"step": step})
        assert [p.values["step"] for p in recorder.history()] == [2.0, 3.0, 4.0]
        assert recorder.latest() == {"step": 4.0}

    def test_runs_are_numbered_by_trained_runs(self) -> None:
        recorder = MetricsRecorder()
        recorder.log({"a": 1})
        first = recorder.record_run(
            started=1.0, duration=0.002, outcome="trained", collected={"buf": 5}
        )
        recorder.log({"a": 2})
        skipped = recorder.record_run(
            started=2.0, duration=20.0, outcome="skipped", collected={"buf": 7}
        )
        failed = recorder.record_run(
            started=3.0, duration=400.0, outcome="failed", collected={"buf": 7}
        )
        assert (first.run, skipped.run, failed.run) == (1, 2, 2)
        assert [p.run for p in recorder.history()] == [1, 2]
        assert first.new_items == {"buf": 5} and skipped.new_items == {"buf": 2}
        assert failed.new_items == {"buf": 0}
        histogram = recorder.duration_histogram()
        assert histogram.count == 3 and histogram.total == pytest.approx(420.002)
        bounds = dict(histogram.buckets)
        assert bounds[0.005] == 1 and bounds[10.0] == 1 and bounds[60.0] == 2
        assert bounds[DURATION_BUCKETS[-1]] == 2 and bounds[math.inf] == 3

    def test_take_logged_returns_each_value_once(self) -> None:
        recorder = MetricsRecorder()
        recorder.log({"a": 1, "b": 2})
        recorder.log({"a": 3})
        assert recorder.take_logged() == {"a": 3.0, "b": 2.0}
        assert recorder.take_logged() == {}

    def test_logging_from_many_threads_loses_nothing(self) -> None:
        recorder = MetricsRecorder(max_history=100_000)
        start = threading.Barrier(8)

        def log(worker: int) -> None:
            start.wait(DEADLINE)
            for i in range(500):
                recorder.log({f"w{worker}": i})

        threads = [threading.Thread(target=log, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
        assert len(recorder.history()) == 8 * 500
        assert recorder.latest() == {f"w{w}": 499.0 for w in range(8)}

    def test_save_and_load_round_trip_with_non_finite(self, tmp_path: Path) -> None:
        recorder = MetricsRecorder()
        recorder.log({"loss": math.nan, "x": 1.5})
        recorder.record_run(started=1, duration=0.1, outcome="trained", collected={})
        recorder.save(tmp_path)
        loaded = MetricsRecorder()
        loaded.load(tmp_path)
        assert math.isnan(loaded.latest()["loss"]) and loaded.latest()["x"] == 1.5
        assert loaded.runs() == recorder.runs()
        loaded.log({"x": 2})
        assert loaded.history()[-1].run == 2  # numbering goes on after a restore

    def test_load_without_a_file_keeps_it_empty(self, tmp_path: Path) -> None:
        recorder = MetricsRecorder()
        recorder.load(tmp_path)
        assert recorder.history() == [] and recorder.runs() == []

    def test_load_of_a_foreign_file_names_it(self, tmp_path: Path) -> None:
        (tmp_path / "metrics.json").write_text('{"format": 99}')
        with pytest.raises(ValueError, match=r"metrics.json.*not a metrics history"):
            MetricsRecorder().load(tmp_path)


class Logging(InstrumentedTrainer):
    def train(self) -> None:
        super().train()
        self.log_metrics({"loss": 1.0 / (self.metrics.latest().get("step", 0) + 1)})
        self.log_metrics({"step": self.metrics.latest().get("step", 0) + 1})


class TestInService:
    async def test_metrics_show_in_status_events_and_run_records(self) -> None:
        journal = Journal()
        trainer = Logging("t", journal, user="buf", min_new_data_count=1)
        service = make_service(trainer)
        async with service:
            events = service.events()
            service.data_collectors.acquire("buf").collect(1)
            event = await next_event(events, EventKind.METRICS, "t")
            finished = await next_event(events, EventKind.FINISHED, "t")
        assert finished.new_items == {"buf": 1}
        assert finished.to_dict()["new_items"] == {"buf": 1}
        assert event.run == 1 and event.metrics == {"loss": 1.0, "step": 1.0}
        assert event.to_dict()["metrics"] == {"loss": 1.0, "step": 1.0}
        status = service.status().trainers["t"]
        assert status.metrics == {"loss": 1.0, "step": 1.0}
        (record,) = trainer.metrics.runs()
        assert record.outcome == "trained" and record.new_items == {"buf": 1}
        assert record.duration == pytest.approx(status.last_duration)

    async def test_a_failed_run_is_recorded_as_failed(self) -> None:
        journal = Journal()

        def boom(_: InstrumentedTrainer) -> None:
            raise RuntimeError("boom")

        trainer = InstrumentedTrainer("t", journal, body=boom)
        async with make_service(trainer, on_error="disable") as service:
            events = service.events()
            await next_event(events, EventKind.FAILED, "t")
        assert [r.outcome for r in trainer.metrics.runs()] == ["failed"]

    async def test_history_is_saved_with_checkpoints(self, tmp_path: Path) -> None:
        journal = Journal()
        first = Logging("t", journal, user="buf", min_new_data_count=1)
        async with make_service(first, state_dir=tmp_path) as service:
            events = service.events()
            service.data_collectors.acquire("buf").collect(1)
            await next_event(events, EventKind.METRICS, "t")
            with anyio.fail_after(DEADLINE):
                await service.save_state()
        again = Logging("t", Journal(), user="buf", min_new_data_count=1)
        restored = TrainerService(
            buffers={"buf": SequentialBuffer(1000)},
            trainers={"t": again},
            state_dir=tmp_path,
            resume_from="latest",
            save_on_shutdown=False,
        )
        async with restored:
            assert again.metrics.latest() == {"loss": 1.0, "step": 1.0}
            assert [r.outcome for r in again.metrics.runs()] == ["trained"]
