"""The control API under load: status polling and HTTP ingestion.

The service and its API server run here on uvloop (as in the daemon); the
clients run in another process, as they would in production.

- ``api.status.p99`` (and ``.p50``): latency of ``GET /v1/status`` seen by
  CLIENTS concurrent clients each polling every POLL_INTERVAL s, while TRAINERS
  trainers run (``train()`` = TRAIN_STEP s of sleep, releasing the GIL, as a
  torch step mostly does). Baseline: one client alone polling every 10 ms, the
  trainers running. The clients speak minimal HTTP/1.1 over keep-alive
  connections: with httpx, the client process's own CPU dominated the figures
  on a two-core machine (measured: p99 0.5-1.4 s, where the server answered in
  about 0.5 ms). Target p99 < 50 ms.
- ``api.runs_with_clients``: training runs/s while those clients poll, against
  runs/s with no client, windows interleaved in the same run. Target: a drop of
  less than 10 % (ratio >= 0.90).
- ``api.ingest.json`` / ``api.ingest.msgpack``: items/s posted over HTTP in
  batches of BATCH items (CONCURRENCY requests in flight), against ``collect()``
  of the same items in-process. Context only.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from functools import partial
from typing import Any

import anyio

from aiotrainer import SequentialBuffer, Trainer, TrainerService
from aiotrainer.api import create_app, serve

from ._common import cpu_percent, median, note, percentile, report, run_on

CLIENTS = 50
POLL_INTERVAL = 0.1
TRAINERS = 2
TRAIN_STEP = 0.002
WINDOW = 3.0
REPEATS = 3
BATCH = 1000
BATCHES = 100
CONCURRENCY = 4
ITEM = {"obs": [0.5] * 8, "action": 3, "reward": 1.0}


class StepTrainer(Trainer):
    """Sleeps TRAIN_STEP per run; records when each run finished."""

    def __init__(self, finished: list[float], lock: threading.Lock) -> None:
        super().__init__()
        self._finished = finished
        self._lock = lock

    def train(self) -> None:
        time.sleep(TRAIN_STEP)
        self.log_metrics({"loss": 0.1})
        with self._lock:
            self._finished.append(time.perf_counter())


def client_process(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks._api_client", *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )


async def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return await anyio.to_thread.run_sync(proc.stdout.readline)


def runs_between(
    finished: list[float], lock: threading.Lock, t0: float, t1: float
) -> float:
    with lock:
        return sum(t0 <= t < t1 for t in finished) / (t1 - t0)


async def polling() -> dict[str, Any]:
    finished: list[float] = []
    lock = threading.Lock()
    service = TrainerService(
        buffers={"buf": SequentialBuffer(1000)},
        trainers={f"t{i}": StepTrainer(finished, lock) for i in range(TRAINERS)},
        max_workers=TRAINERS,
    )
    quiet: list[float] = []
    loaded: list[float] = []
    cpu_quiet: list[float] = []
    cpu_loaded: list[float] = []
    latencies: list[float] = []
    errors = 0
    async with service, anyio.create_task_group() as tg:
        port = await tg.start(partial(serve, create_app(service), port=0))
        url = f"http://127.0.0.1:{port}"
        for _ in range(REPEATS):
            t0, c0 = time.perf_counter(), time.process_time()
            await anyio.sleep(WINDOW)
            t1 = time.perf_counter()
            quiet.append(runs_between(finished, lock, t0, t1))
            cpu_quiet.append(cpu_percent(time.process_time() - c0, t1 - t0))

            proc = client_process("poll", url, CLIENTS, POLL_INTERVAL, WINDOW)
            assert await read_line(proc) == "start\n"
            t0, c0 = time.perf_counter(), time.process_time()
            result = json.loads(await read_line(proc))
            t1 = time.perf_counter()
            loaded.append(runs_between(finished, lock, t0, t1))
            cpu_loaded.append(cpu_percent(time.process_time() - c0, t1 - t0))
            proc.wait()
            latencies += result["latencies"]
            errors += result["errors"]
        proc = client_process("poll", url, 1, 0.01, 2.0)
        assert await read_line(proc) == "start\n"
        single = json.loads(await read_line(proc))["latencies"]
        proc.wait()
        tg.cancel_scope.cancel()
    return {
        "quiet": quiet,
        "loaded": loaded,
        "latencies": latencies,
        "single": single,
        "cpu_quiet": cpu_quiet,
        "cpu_loaded": cpu_loaded,
        "errors": errors,
    }


async def ingestion(fmt: str) -> float:
    service = TrainerService(buffers={"buf": SequentialBuffer(BATCH * BATCHES * 2)})
    async with service, anyio.create_task_group() as tg:
        port = await tg.start(partial(serve, create_app(service), port=0))
        proc = client_process(
            "ingest", f"http://127.0.0.1:{port}", fmt, BATCH, BATCHES, CONCURRENCY
        )
        result = json.loads(await read_line(proc))
        proc.wait()
        tg.cancel_scope.cancel()
    return float(result["items"] / result["seconds"])


def in_process() -> float:
    service = TrainerService(buffers={"buf": SequentialBuffer(BATCH * BATCHES * 2)})
    collect = service.data_collectors.acquire("buf").collect
    items = [dict(ITEM) for _ in range(BATCH)]
    t0 = time.perf_counter()
    for _ in range(BATCHES):
        for item in items:
            collect(item)
    return BATCH * BATCHES / (time.perf_counter() - t0)


def main() -> None:
    # the ingestion services have no trainers, on purpose
    logging.getLogger("aiotrainer.service").setLevel(logging.ERROR)
    figures = run_on("uvloop", polling)
    note(
        f"{CLIENTS} clients (another process) each GET /v1/status every "
        f"{POLL_INTERVAL:g} s; {TRAINERS} trainers, train() = sleep({TRAIN_STEP:g}); "
        f"{REPEATS} interleaved windows of {WINDOW:g} s; uvloop; "
        f"{len(figures['latencies'])} requests, {figures['errors']} errors"
    )
    single_p50 = percentile(figures["single"], 50) * 1000
    single_p99 = percentile(figures["single"], 99) * 1000
    note(
        f"one client alone (every 10 ms): p50 {single_p50:.2f} ms, "
        f"p99 {single_p99:.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    p50 = percentile(figures["latencies"], 50) * 1000
    p99 = percentile(figures["latencies"], 99) * 1000
    report(
        "api.status.p50",
        p50,
        "ms",
        baseline=("one_client.p50", single_p50, "ms"),
    )
    report(
        "api.status.p99",
        p99,
        "ms",
        baseline=("one_client.p99", single_p99, "ms"),
        target="< 50 ms",
        ok=p99 < 50,
    )
    quiet, loaded = median(figures["quiet"]), median(figures["loaded"])
    note(
        f"service process CPU: {median(figures['cpu_quiet']):.0f} % of a core without "
        f"clients, {median(figures['cpu_loaded']):.0f} % with them "
        f"({CLIENTS / POLL_INTERVAL:.0f} requests/s)"
    )
    report(
        "api.runs_with_clients",
        loaded,
        "runs/s",
        baseline=("no_clients", quiet, "runs/s"),
        target="ratio >= 0.90",
        ok=loaded / quiet >= 0.90,
    )
    base = median([in_process() for _ in range(3)])
    note(
        f"ingestion: {BATCHES} batches of {BATCH} items like {ITEM}, "
        f"{CONCURRENCY} requests in flight, client in another process"
    )
    for fmt in ("json", "msgpack"):
        rate = median([run_on("uvloop", partial(ingestion, fmt)) for _ in range(3)])
        report(
            f"api.ingest.{fmt}",
            rate,
            "items/s",
            baseline=("collect_in_process", base, "items/s"),
        )


if __name__ == "__main__":
    main()
