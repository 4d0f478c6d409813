"""Instrumented trainers and models shared by the scheduler and service tests.

The trainers record what they do, from their worker threads, in a :class:`Journal`
(under a ``threading.Lock``). A test awaits a condition on those records with
:meth:`Journal.wait_until`, which every record wakes: no polling, and every wait
has a deadline.

Import it as ``from helpers import ...``: ``tests/`` is on ``sys.path`` (pytest's
default ``prepend`` import mode, as for ``tests/conftest.py``) but is not a package.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import anyio

import aiotrainer
from aiotrainer import (
    Condition,
    EventKind,
    EventStream,
    InferenceModel,
    SequentialBuffer,
    ServiceEvent,
    Trainer,
    TrainerService,
    TrainingModel,
)

__all__ = [
    "CountingInference",
    "CountingModel",
    "InstrumentedTrainer",
    "Journal",
    "LoopSignal",
    "NoopTrainer",
    "block_on",
    "make_service",
    "next_event",
    "park_until",
    "steps",
    "wait_thread_event",
]

DEADLINE = 5.0
"""Seconds any single wait in these tests may take before it counts as a hang."""


class LoopSignal:
    """A wake-up that any thread sends and coroutines on the loop await.

    Must be created on the event loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = anyio.Event()

    def notify(self) -> None:
        """Wake every waiter (from any thread, or from the loop)."""
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    def _wake(self) -> None:
        event, self._event = self._event, anyio.Event()
        event.set()

    async def wait_until(
        self, predicate: Callable[[], bool], within: float = DEADLINE
    ) -> None:
        """Return once ``predicate()`` holds; re-checked on every :meth:`notify`.

        :raises TimeoutError: after ``within`` seconds.
        """
        with anyio.fail_after(within):
            while not predicate():
                await self._event.wait()


class Journal:
    """What instrumented trainers did; written from worker threads under a lock.

    ``count(trainer, what)`` counts records such as ``"run"`` (every ``run()``
    call), ``"trained"`` / ``"skipped"`` / ``"error"`` (how ``run()`` ended),
    ``"train"``, ``"paused"`` and ``"resumed"``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signal = LoopSignal()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._in_run: Counter[str] = Counter()
        self._parked: Counter[str] = Counter()
        self._model_holders: defaultdict[str, set[str]] = defaultdict(set)
        self._in_run_now: set[str] = set()
        self.most_in_run = 0
        """The most runs that were in flight at once (all trainers)."""
        self.self_overlaps: list[str] = []
        """Trainers seen inside ``run()`` twice at once."""
        self.model_overlaps: list[tuple[str, frozenset[str]]] = []
        """(model, trainers) seen inside ``run()`` together while sharing a model."""
        self.busy_at_on_paused: list[tuple[str, int]] = []
        """(trainer, unparked runs in flight) whenever ``on_paused`` saw any."""
        self.train_times: defaultdict[str, list[float]] = defaultdict(list)
        """Each trainer's ``previous_training_time`` at each ``train()``."""

    # -- reading (any thread) ---------------------------------------------------

    def count(self, trainer: str, what: str) -> int:
        with self._lock:
            return self._counts[trainer, what]

    def in_flight(self) -> int:
        """Runs between entry and exit of ``run()``, parked ones included."""
        with self._lock:
            return sum(self._in_run.values())

    def parked(self) -> int:
        """Runs blocked at (or entering) ``pause_point()``."""
        with self._lock:
            return sum(self._parked.values())

    def unparked_in_flight(self) -> int:
        """Runs in flight that are not at a pause point."""
        with self._lock:
            return sum(self._in_run.values()) - sum(self._parked.values())

    async def wait_until(
        self, predicate: Callable[[], bool], within: float = DEADLINE
    ) -> None:
        """Await ``predicate()``, re-checked whenever a trainer records something."""
        await self._signal.wait_until(predicate, within)

    async def wait_count(
        self, trainer: str, what: str, n: int, within: float = DEADLINE
    ) -> None:
        """Await ``count(trainer, what) >= n``."""
        await self.wait_until(lambda: self.count(trainer, what) >= n, within)

    # -- writing (worker threads) -------------------------------------------------

    def record(self, trainer: str, what: str) -> None:
        with self._lock:
            self._counts[trainer, what] += 1
        self._signal.notify()

    def enter_run(self, trainer: str, models: Iterable[str]) -> None:
        with self._lock:
            self._counts[trainer, "run"] += 1
            self._in_run[trainer] += 1
            if self._in_run[trainer] > 1:
                self.self_overlaps.append(trainer)
            for model in models:
                holders = self._model_holders[model]
                holders.add(trainer)
                if len(holders) > 1:
                    self.model_overlaps.append((model, frozenset(holders)))
            self.most_in_run = max(self.most_in_run, sum(self._in_run.values()))
        self._signal.notify()

    def exit_run(self, trainer: str, models: Iterable[str], outcome: str) -> None:
        with self._lock:
            self._in_run[trainer] -= 1
            for model in models:
                self._model_holders[model].discard(trainer)
            self._counts[trainer, outcome] += 1
        self._signal.notify()

    def park(self, trainer: str) -> None:
        with self._lock:
            self._parked[trainer] += 1
        self._signal.notify()

    def unpark(self, trainer: str) -> None:
        with self._lock:
            self._parked[trainer] -= 1
        self._signal.notify()

    def on_paused(self, trainer: str) -> None:
        with self._lock:
            busy = sum(self._in_run.values()) - sum(self._parked.values())
            if busy:
                self.busy_at_on_paused.append((trainer, busy))
            self._counts[trainer, "paused"] += 1
        self._signal.notify()

    def train(self, trainer: str, previous_training_time: float) -> None:
        with self._lock:
            self._counts[trainer, "train"] += 1
            self.train_times[trainer].append(previous_training_time)
        self._signal.notify()


class CountingInference(InferenceModel):
    """The agent's side: the version last synced into it."""

    def __init__(self) -> None:
        self.version = 0

    def infer(self, *args: Any, **kwargs: Any) -> int:
        return self.version


class CountingModel(TrainingModel[CountingInference]):
    """A model whose "parameters" are a version number; trainers bump it."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def _create_inference_model(self) -> CountingInference:
        return CountingInference()

    def forward(self, *args: Any, **kwargs: Any) -> int:
        return self.version

    def sync_impl(self, inference_model: CountingInference) -> None:
        inference_model.version = self.version


Body = Callable[["InstrumentedTrainer"], None]


class InstrumentedTrainer(Trainer):
    """A trainer that records its runs, pauses and models in a :class:`Journal`.

    :param label: its name in the journal (use the name it is registered under).
    :param journal: where to record.
    :param user: pamiq's ``training_condition_data_user``.
    :param models: training models it retrieves when attached (and so locks).
    :param body: what ``train()`` does, given the trainer; nothing by default.
    """

    def __init__(
        self,
        label: str,
        journal: Journal,
        *,
        user: str | None = None,
        min_buffer_size: int = 0,
        min_new_data_count: int = 0,
        condition: Condition | None = None,
        models: Iterable[str] = (),
        body: Body | None = None,
    ) -> None:
        super().__init__(user, min_buffer_size, min_new_data_count, condition=condition)
        self.label = label
        self.journal = journal
        self.model_names = tuple(models)
        self.body = body

    def on_training_models_attached(self) -> None:
        for name in self.model_names:
            self.get_training_model(name)

    def run(self) -> bool:
        self.journal.enter_run(self.label, self.model_names)
        outcome = "error"
        try:
            trained = super().run()
            outcome = "trained" if trained else "skipped"
            return trained
        finally:
            self.journal.exit_run(self.label, self.model_names, outcome)

    def train(self) -> None:
        self.journal.train(self.label, self.previous_training_time)
        for name in self.model_names:
            model = self.get_training_model(name)
            assert isinstance(model, CountingModel)
            model.version += 1
        if self.body is not None:
            self.body(self)

    def pause_point(self) -> None:
        """``aiotrainer.pause_point()``, counted as parked in the journal."""
        self.journal.park(self.label)
        try:
            aiotrainer.pause_point()
        finally:
            self.journal.unpark(self.label)

    def on_paused(self) -> None:
        self.journal.on_paused(self.label)

    def on_resumed(self) -> None:
        self.journal.record(self.label, "resumed")


class NoopTrainer(Trainer):
    """The smallest trainer: ``train()`` does nothing."""

    def train(self) -> None:
        pass


def steps(n: int, step: float = 0.001) -> Body:
    """A ``train()`` body of ``n`` steps of ``step`` seconds, a pause point before
    each."""

    def body(trainer: InstrumentedTrainer) -> None:
        trainer.journal.record(trainer.label, "steps")
        for _ in range(n):
            trainer.pause_point()
            time.sleep(step)
            trainer.journal.record(trainer.label, "step")

    return body


def block_on(event: threading.Event, timeout: float = DEADLINE) -> Body:
    """A ``train()`` body that blocks until ``event`` is set (at most ``timeout``)."""

    def body(trainer: InstrumentedTrainer) -> None:
        trainer.journal.record(trainer.label, "blocking")
        event.wait(timeout)

    return body


def park_until(
    event: threading.Event, step: float = 0.001, timeout: float = DEADLINE
) -> Body:
    """A long ``train()`` body: steps of ``step`` seconds, a pause point between
    them, until ``event`` is set (at most ``timeout``)."""

    def body(trainer: InstrumentedTrainer) -> None:
        trainer.journal.record(trainer.label, "steps")
        deadline = time.monotonic() + timeout
        while not event.is_set() and time.monotonic() < deadline:
            trainer.pause_point()
            event.wait(step)
            trainer.journal.record(trainer.label, "step")

    return body


def make_service(*trainers: InstrumentedTrainer, **kwargs: Any) -> TrainerService:
    """A service with ``trainers`` under their labels, a model for each name they
    retrieve, a ``"buf"`` buffer unless ``buffers=`` says otherwise, and a
    ``shutdown_timeout`` of :data:`DEADLINE` unless given."""
    models = {
        name: CountingModel() for t in trainers for name in t.model_names
    } | kwargs.pop("models", {})
    buffers = kwargs.pop("buffers", {"buf": SequentialBuffer(1000)})
    kwargs.setdefault("shutdown_timeout", DEADLINE)
    return TrainerService(
        models=models,
        buffers=buffers,
        trainers={t.label: t for t in trainers},
        **kwargs,
    )


async def next_event(
    stream: EventStream, kind: EventKind, trainer: str | None = None
) -> ServiceEvent:
    """The next event of ``kind`` (for ``trainer``) in ``stream``."""
    with anyio.fail_after(DEADLINE):
        async for event in stream:
            if event.kind is kind and (trainer is None or event.trainer == trainer):
                return event
    raise AssertionError(f"the stream ended before a {kind} event")


async def wait_thread_event(event: threading.Event, within: float = DEADLINE) -> None:
    """Await a ``threading.Event`` that another thread sets: bounded, and
    cancellable (a cancellation leaves the helper thread to end by itself
    within ``within``, unlike a plain ``to_thread.run_sync(event.wait)``).

    :raises TimeoutError: after ``within`` seconds.
    """
    if not await anyio.to_thread.run_sync(event.wait, within, abandon_on_cancel=True):
        raise TimeoutError(f"the event was not set within {within} s")
