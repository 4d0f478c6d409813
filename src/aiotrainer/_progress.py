"""The daemon's progress display: a rich live table, or plain lines, and a summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

from .status import ServiceStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from .daemon import DaemonResult

__all__ = [
    "PlainProgress",
    "RichProgress",
    "make_console",
    "progress_line",
    "summary_lines",
]


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


def _metrics(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k}={_number(v)}" for k, v in metrics.items())


def progress_line(
    status: ServiceStatus, metrics: Mapping[str, Mapping[str, float]], uptime: float
) -> str:
    """One line: uptime, runs per trainer, items seen per buffer, metrics."""
    parts = [f"[{uptime:7.1f}s] {status.state.value}"]
    for name, trainer in status.trainers.items():
        part = f"{name}: {trainer.runs} runs"
        if metrics.get(name):
            part += f", {_metrics(metrics[name])}"
        parts.append(part)
    for name, buffer in status.buffers.items():
        parts.append(f"{name}: {buffer.collected} seen, {buffer.size} buffered")
    return " | ".join(parts)


class PlainProgress:
    """A plain line per update, for logs and pipes.

    :param stream: where the lines go (flushed after each).
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def update(
        self,
        status: ServiceStatus,
        metrics: Mapping[str, Mapping[str, float]],
        uptime: float,
    ) -> None:
        """Print one line."""
        print(progress_line(status, metrics, uptime), file=self._stream, flush=True)

    def close(self) -> None:
        """Nothing to close."""


class RichProgress:
    """A live table on a terminal, redrawn on each update.

    :param console: the rich console (shared with the log handler, so that log
        lines print above the table).
    """

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self._live: Live | None = Live(
            console=console, auto_refresh=False, transient=False
        )
        self._live.start()

    def update(
        self,
        status: ServiceStatus,
        metrics: Mapping[str, Mapping[str, float]],
        uptime: float,
    ) -> None:
        """Redraw the table."""
        from rich.table import Table

        if self._live is None:
            return
        table = Table(title=f"aiotrainer  {status.state.value}  {uptime:.1f} s")
        table.add_column("trainer")
        table.add_column("state")
        table.add_column("runs", justify="right")
        table.add_column("failures", justify="right")
        table.add_column("metrics")
        for name, trainer in status.trainers.items():
            table.add_row(
                name,
                trainer.state.value,
                str(trainer.runs),
                str(trainer.failures),
                _metrics(metrics.get(name, {})),
            )
        for name, buffer in status.buffers.items():
            table.add_row(
                f"[dim]{name}[/dim]",
                "buffer",
                "",
                "",
                f"{buffer.collected} seen, {buffer.size} buffered",
            )
        self._live.update(table, refresh=True)

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()


def summary_lines(result: DaemonResult) -> list[str]:
    """A short summary of a daemon run."""
    status = result.status
    why = result.detail or result.reason.value
    lines = [f"summary: ran {result.uptime:.1f} s; stopped: {why}"]
    for name, trainer in status.trainers.items():
        line = f"  trainer {name}: {trainer.runs} runs, {trainer.failures} failures"
        if result.metrics.get(name):
            line += f", {_metrics(result.metrics[name])}"
        if trainer.last_error:
            line += f", last error: {trainer.last_error}"
        lines.append(line)
    for name, buffer in status.buffers.items():
        lines.append(
            f"  buffer {name}: {buffer.collected} seen, {buffer.size} buffered, "
            f"{buffer.dropped} dropped"
        )
    if status.last_checkpoint:
        lines.append(f"  last checkpoint: {status.last_checkpoint}")
    if status.last_save_error:
        lines.append(f"  last save FAILED: {status.last_save_error}")
    return lines


def make_console(stream: IO[str]) -> Console:
    """A rich console on ``stream`` (for the live display and the log handler)."""
    from rich.console import Console

    return Console(file=stream)
