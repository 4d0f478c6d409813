"""The daemon's progress display and summary."""

from __future__ import annotations

import io
import math

from rich.console import Console

from aiotrainer import BufferStatus, ServiceState, ServiceStatus, TrainerState
from aiotrainer._progress import (
    PlainProgress,
    RichProgress,
    progress_line,
    summary_lines,
)
from aiotrainer.daemon import DaemonResult, StopReason
from aiotrainer.status import TrainerStatus


def _status(**extra: object) -> ServiceStatus:
    trainer = TrainerStatus(
        state=TrainerState.WAITING,
        runs=12,
        skipped=0,
        failures=1,
        last_start=None,
        last_end=None,
        last_duration=None,
        last_error="ValueError: bad batch",
    )
    buffer = BufferStatus(size=100, max_size=100, collected=640, pending=0, dropped=540)
    return ServiceStatus(
        state=ServiceState.RUNNING,
        max_workers=1,
        running_trainers=0,
        trainers={"sgd": trainer},
        buffers={"samples": buffer},
        started_at=None,
        **extra,  # type: ignore[arg-type]
    )


def test_progress_line_shows_runs_items_and_metrics() -> None:
    line = progress_line(_status(), {"sgd": {"loss": 0.012345}}, 2.5)
    assert line == (
        "[    2.5s] running | sgd: 12 runs, loss=0.01235 | samples: 640 seen, "
        "100 buffered"
    )
    assert "loss=-" in progress_line(_status(), {"sgd": {"loss": math.nan}}, 0)


def test_plain_progress_prints_a_line_per_update() -> None:
    out = io.StringIO()
    view = PlainProgress(out)
    view.update(_status(), {}, 1.0)
    view.update(_status(), {}, 2.0)
    view.close()
    assert out.getvalue().count("\n") == 2
    assert "sgd: 12 runs |" in out.getvalue()


def test_rich_progress_draws_a_table() -> None:
    out = io.StringIO()
    view = RichProgress(Console(file=out, force_terminal=True, width=100))
    view.update(_status(), {"sgd": {"loss": 0.5}}, 3.0)
    view.close()
    view.close()  # idempotent
    text = out.getvalue()
    assert "loss=0.5" in text
    assert "640 seen, 100 buffered" in text


def test_summary_names_why_it_stopped_and_a_failed_save() -> None:
    result = DaemonResult(
        StopReason.MAX_UPTIME,
        "max_uptime 3 s reached",
        _status(last_checkpoint="/s/c1", last_save_error="disk full"),
        {"sgd": {"loss": 0.25}},
        3.04,
    )
    assert result.exit_code == 0
    assert summary_lines(result) == [
        "summary: ran 3.0 s; stopped: max_uptime 3 s reached",
        (
            "  trainer sgd: 12 runs, 1 failures, loss=0.25, last error: ValueError: "
            "bad batch"
        ),
        "  buffer samples: 640 seen, 100 buffered, 540 dropped",
        "  last checkpoint: /s/c1",
        "  last save FAILED: disk full",
    ]
    failed = DaemonResult(StopReason.TRAINER_FAILED, "", _status(), {}, 1.0)
    assert failed.exit_code == 1
