"""``/metrics``: the service's state in Prometheus' text format.

A collector reads ``service.status()`` and the trainers' metrics at scrape time,
into a registry of the app's own (never prometheus-client's global one), so two
apps in one process never mix their series.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..service import TrainerService
from ..status import ServiceState

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(value)


class _ServiceCollector(Collector):
    def __init__(self, service: TrainerService) -> None:
        self._service = service
        self.checkpoint_time: float | None = None
        """When the last checkpoint was written (set before each scrape)."""

    def collect(self) -> Iterator[Metric]:
        service = self._service
        status = service.status()
        runs = CounterMetricFamily(
            "aiotrainer_trainer_runs", "Runs that trained.", labels=["trainer"]
        )
        skipped = CounterMetricFamily(
            "aiotrainer_trainer_skipped_runs",
            "Runs dispatched that found the trainer not trainable.",
            labels=["trainer"],
        )
        failures = CounterMetricFamily(
            "aiotrainer_trainer_failures", "Runs that raised.", labels=["trainer"]
        )
        durations = HistogramMetricFamily(
            "aiotrainer_run_duration_seconds",
            "Duration of each run the scheduler dispatched.",
            labels=["trainer"],
        )
        values = GaugeMetricFamily(
            "aiotrainer_trainer_metric",
            "The last value a trainer logged with log_metrics().",
            labels=["trainer", "metric"],
        )
        for name, trainer_status in status.trainers.items():
            runs.add_metric([name], trainer_status.runs)
            skipped.add_metric([name], trainer_status.skipped)
            failures.add_metric([name], trainer_status.failures)
            histogram = service.trainers[name].metrics.duration_histogram()
            durations.add_metric(
                [name],
                buckets=[(_bound(b), n) for b, n in histogram.buckets],
                sum_value=histogram.total,
            )
            for metric, value in trainer_status.metrics.items():
                values.add_metric([name, metric], value)
        yield from (runs, skipped, failures, durations, values)

        size = GaugeMetricFamily(
            "aiotrainer_buffer_size", "Items in the buffer.", labels=["buffer"]
        )
        collected = CounterMetricFamily(
            "aiotrainer_items_collected", "Items collected.", labels=["buffer"]
        )
        evicted = CounterMetricFamily(
            "aiotrainer_items_evicted",
            "Items evicted or rejected by the buffer.",
            labels=["buffer"],
        )
        lost = CounterMetricFamily(
            "aiotrainer_items_lost",
            "Items dropped from a full collector queue.",
            labels=["buffer"],
        )
        pending = GaugeMetricFamily(
            "aiotrainer_items_pending",
            "Items collected and not yet in the buffer.",
            labels=["buffer"],
        )
        for name, user in service.data_users.items():
            stats = user.statistics()
            size.add_metric([name], stats.stored)
            collected.add_metric([name], stats.collected)
            evicted.add_metric([name], stats.dropped_in_buffer)
            lost.add_metric([name], stats.dropped_in_queue)
            pending.add_metric([name], stats.pending)
        yield from (size, collected, evicted, lost, pending)

        yield GaugeMetricFamily(
            "aiotrainer_paused",
            "1 while the service is paused.",
            value=1.0 if status.state is ServiceState.PAUSED else 0.0,
        )
        yield GaugeMetricFamily(
            "aiotrainer_workers_in_use",
            "Runs in flight, parked ones included; workers waiting in place for "
            "their trainer's next data are not counted.",
            value=status.running_trainers,
        )
        yield GaugeMetricFamily(
            "aiotrainer_workers", "Worker threads for runs.", value=status.max_workers
        )
        saved_at = self.checkpoint_time
        if saved_at is not None:
            yield GaugeMetricFamily(
                "aiotrainer_seconds_since_checkpoint",
                "Seconds since the last checkpoint was written.",
                value=max(0.0, time.time() - saved_at),
            )


class ServiceMetrics:
    """The app's registry and the collector that reports ``service`` into it."""

    def __init__(self, service: TrainerService) -> None:
        self._service = service
        self._collector = _ServiceCollector(service)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._collector)

    async def render(self) -> bytes:
        """Scrape now, in the text exposition format."""
        path = self._service.status().last_checkpoint
        if path is not None:
            # the checkpoint's own directory: its mtime is when it was renamed
            # into place; a stat is disk I/O, so not on the loop
            try:
                stat = await anyio.to_thread.run_sync(os.stat, path)
                self._collector.checkpoint_time = stat.st_mtime
            except OSError:
                self._collector.checkpoint_time = None
        return generate_latest(self.registry)
