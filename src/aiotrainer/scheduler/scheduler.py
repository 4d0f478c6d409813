"""The event-driven scheduler: one task per trainer, runs in the executor."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskStatus

from .. import time as _clock
from ..data.collector import DataCollector
from ..data.dicts import DataUsersDict
from ..events import EventKind, ServiceEvent
from ..status import TrainerState, TrainerStatus
from ..trainer.base import Trainer
from ..trainer.conditions import Readiness
from ..trainer.dicts import TrainersDict
from ..trainer.metrics import RunOutcome, RunRecord
from ._linger import Lingering
from ._loop import LoopCaller
from ._slots import Slots
from .executor import Executor, LocalExecutor
from .pause_gate import PauseGate
from .policy import ErrorPolicy
from .waiting import wait_for_readiness

__all__ = ["Scheduler", "is_interrupt", "never_run_status"]

logger = logging.getLogger("aiotrainer.scheduler")

_Watched = tuple[str, DataCollector[Any]]


@dataclass
class _Track:
    """A trainer's mutable bookkeeping (loop thread only)."""

    state: TrainerState = TrainerState.WAITING
    runs: int = 0
    skipped: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_start: float | None = None
    last_end: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    last_exception: BaseException | None = None

    def snapshot(
        self,
        paused: bool,
        quiescent: bool,
        restored_runs: int = 0,
        metrics: dict[str, float] | None = None,
    ) -> TrainerStatus:
        state = self.state
        if paused and state in (TrainerState.WAITING, TrainerState.QUEUED):
            state = TrainerState.PAUSED
        elif quiescent and state is TrainerState.RUNNING:
            state = TrainerState.PARKED
        return TrainerStatus(
            state=state,
            runs=restored_runs + self.runs,
            skipped=self.skipped,
            failures=self.failures,
            last_start=self.last_start,
            last_end=self.last_end,
            last_duration=self.last_duration,
            last_error=self.last_error,
            metrics=metrics or {},
        )


class _Outcome:
    """How one ``run()`` ended, written by the worker thread as it ends.

    The run's result never travels as the executor's return value or exception:
    a run that ends while its task is being cancelled is still counted, and what
    user code raises (``CancelledError``, ``KeyboardInterrupt``) is never taken
    for the engine's own cancellation or allowed to unwind the event loop.
    """

    __slots__ = (
        "accounted",
        "collected",
        "done",
        "error",
        "lingered",
        "mark",
        "seen",
        "started",
        "stopped",
        "trained",
    )

    def __init__(self, seen: dict[str, int], mark: tuple[float, dict[str, int]]):
        self.started = False
        self.done = False
        self.trained = False
        self.error: BaseException | None = None
        # Taken before each run of a chain (by the loop for the first, by the
        # worker for the next ones): the last run's are what the loop needs.
        self.seen = seen
        self.mark = mark
        self.stopped = False
        # every data user's collected count as the (last) run started: metrics
        self.collected: dict[str, int] = {}
        # The last run was accounted by the worker (it then waited in place for
        # more data, and went back without running again): the loop must not
        # count it twice.
        self.accounted = False
        # ... and its wait, which the loop ends (Lingering.leave) once it has
        # counted the run as finished.
        self.lingered: threading.Event | None = None

    def stop(self) -> None:
        """Start no further run in this chain (its task was cancelled)."""
        self.stopped = True


def _recording(trainer: Trainer, outcome: _Outcome) -> Callable[[], None]:
    def run() -> None:
        outcome.started = True
        try:
            outcome.trained = bool(trainer.run())
        except BaseException as exc:  # noqa: BLE001 - the scheduler reports it
            outcome.error = exc
        finally:
            outcome.done = True

    return run


def is_interrupt(error: BaseException) -> bool:
    """Whether ``error`` asks the process to end (``KeyboardInterrupt``,
    ``SystemExit``): it stops the service whatever the policy, and is re-raised."""
    return not isinstance(error, Exception | asyncio.CancelledError)


def _always() -> bool:
    return True


def never_run_status() -> TrainerStatus:
    """The status of a trainer whose scheduler has not started."""
    return _Track(state=TrainerState.STOPPED).snapshot(paused=False, quiescent=False)


def _overrides_is_trainable(trainer: Trainer) -> bool:
    return type(trainer).is_trainable is not Trainer.is_trainable


class Scheduler:
    """Drive every trainer: wait until it could be trainable, then run it.

    One task per trainer waits on its data users' collectors (or a deadline), never
    by polling; ``trainer.run()`` runs in the executor. A trainer never runs
    concurrently with itself, and trainers that retrieved the same model take that
    model's lock (in name order) around their runs.

    :param trainers: attached trainers.
    :param data_users: the data users they were attached to.
    :param executor: where runs happen.
    :param gate: the pause gate.
    :param policies: trainer name -> error policy.
    :param emit: called with each event, on the loop.
    :param on_fatal: called when a ``"stop"`` policy fires.
    :param listening: whether anyone listens to events now; events are made
        only then. ``None``: always.
    :param recheck_interval: for a trainer that overrides ``is_trainable``: after it
        said no, check again on new data or after this many seconds.
    :param linger: seconds a worker of the local pool may wait in place, after a
        run, for the data its trainer needs next (0: never).
    """

    def __init__(
        self,
        trainers: TrainersDict,
        data_users: DataUsersDict,
        executor: Executor,
        gate: PauseGate,
        *,
        policies: Mapping[str, ErrorPolicy],
        emit: Callable[[ServiceEvent], None],
        on_fatal: Callable[[str, BaseException], None],
        recheck_interval: float = 1.0,
        listening: Callable[[], bool] | None = None,
        linger: float = 0.0,
    ) -> None:
        self._trainers = trainers
        self._users = data_users
        self._executor = executor
        self._gate = gate
        self._policies = policies
        self._emit = emit
        self._on_fatal = on_fatal
        self._recheck_interval = recheck_interval
        self._listening = listening if listening is not None else _always
        self._tracks = {name: _Track() for name in trainers}
        # A model's lock: one holder at a time, a free one taken without a trip
        # through the loop, and whether someone waits readable from a worker.
        self._model_locks: dict[str, Slots] = {}
        # Workers waiting in place for their trainer's next data: whatever needs
        # a worker elsewhere (a pause, a stop, a trainer queuing for a worker or
        # a model lock) nudges them back.
        self._linger = linger
        self._lingering = Lingering()
        gate._add_pause_listener(self._lingering.nudge)
        self._slots = Slots(executor.max_workers, on_wait=self._lingering.nudge)
        self._dispatching = True
        # Only the local pool can be told to end a chain early on cancellation.
        self._local = executor if isinstance(executor, LocalExecutor) else None
        self._call: LoopCaller | None = None
        # Events of chained runs, posted by workers and emitted on the loop.
        self._posted: deque[ServiceEvent] = deque()
        self._flush_pending = False
        # Runs whose task gave up waiting for them (cancelled, abandoned): their
        # worker thread may still be inside run(), touching its models.
        self._given_up: dict[str, _Outcome] = {}

    # -- inspection ------------------------------------------------------------

    def trainer_statuses(self) -> dict[str, TrainerStatus]:
        """Each trainer's status."""
        stats = self._gate.statistics()
        # Paused with every run in flight parked: each running trainer is parked.
        quiescent = stats.paused and 0 < stats.running <= stats.parked
        return {
            name: t.snapshot(
                stats.paused,
                quiescent,
                self._trainers[name].restored_runs,
                self._trainers[name].metrics.latest(),
            )
            for name, t in self._tracks.items()
        }

    def still_running(self) -> list[str]:
        """Trainers whose run was given up on (abandoned at shutdown) and has not
        ended: a capture now could catch their models mid-``train()``."""
        return sorted(n for n, o in self._given_up.items() if o.started and not o.done)

    @property
    def running(self) -> int:
        """Runs in flight (parked ones included; workers waiting in place for
        their trainer's next data are not running anything)."""
        return max(0, self._gate.statistics().running - self._lingering.count)

    async def lingerers_back(self) -> None:
        """Return once no worker waits in place (call after a nudge: they come
        back at once, running no user code), so that a bounded wait that
        follows bounds real runs only."""
        call = self._call
        if call is None:  # not started: no worker can be waiting in place
            return
        while True:
            back = asyncio.Event()
            if self._lingering.when_back(partial(call, back.set)):
                return
            await back.wait()

    # -- control ---------------------------------------------------------------

    def stop_dispatching(self) -> None:
        """Start no new run; runs in flight go on."""
        self._dispatching = False
        self._lingering.nudge()

    async def run(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Drive every trainer until cancelled."""
        self._call = LoopCaller()
        try:
            async with anyio.create_task_group() as tg:
                for name, trainer in self._trainers.items():
                    tg.start_soon(self._drive, name, trainer, name=f"trainer {name!r}")
                task_status.started()
        finally:
            for track in self._tracks.values():
                if track.state not in (TrainerState.DISABLED, TrainerState.FAILED):
                    track.state = TrainerState.STOPPED

    # -- the per-trainer task --------------------------------------------------

    def _watched(self, trainer: Trainer, overrides: bool) -> list[_Watched]:
        """The data users whose collected counts could change its answer."""
        users = self._users
        if overrides:
            return [(n, u.collector) for n, u in users.items()]
        condition = trainer.trainability_condition
        names = sorted(condition.data_user_names) if condition is not None else ()
        return [(n, users[n].collector) for n in names]

    def _precheck(
        self,
        trainer: Trainer,
        seen_before_no: Mapping[str, int] | None,
        overrides: bool,
    ) -> Readiness:
        """``seen_before_no``: the collected counts taken before a run whose
        ``is_trainable()`` said no (``None`` if the last run did not say no)."""
        if overrides:
            if seen_before_no is None:
                return Readiness(True)
            totals = {n: c + 1 for n, c in seen_before_no.items()}
            recheck = self._recheck_interval * _clock.get_time_scale()  # real seconds
            return Readiness(False, totals, _clock.time() + recheck)
        condition = trainer.trainability_condition
        if condition is None:
            return Readiness(True)
        readiness = condition.precheck(trainer.condition_context())
        if seen_before_no is None:
            return readiness
        # The worker said no although the counters said maybe: wait for new data
        # (or the condition's deadline) instead of dispatching again at once. New
        # means collected after the counts taken before that run: items that came
        # while it ran may be what it lacked, and wake it at once.
        floor = {n: c + 1 for n, c in seen_before_no.items()}
        totals = {n: max(t, readiness.wake_totals.get(n, t)) for n, t in floor.items()}
        return Readiness(False, totals, readiness.deadline)

    def _warn_late_retrieval(
        self, name: str, trainer: Trainer, locked: frozenset[str]
    ) -> None:
        late = sorted(trainer.retrieved_model_names - locked)
        logger.warning(
            "trainer %r retrieved model(s) %s during a run; that run held no lock "
            "on them, so a trainer sharing them may have run at the same time. "
            "Retrieve models in on_training_models_attached(): later runs lock them.",
            name,
            ", ".join(map(repr, late)),
        )

    def _locks_for(self, names: frozenset[str]) -> list[Slots]:
        locks = self._model_locks
        out = []
        for name in sorted(names):
            lock = locks.get(name)
            if lock is None:
                lock = locks[name] = Slots(1, on_wait=self._lingering.nudge)
            out.append(lock)
        return out

    async def _drive(self, name: str, trainer: Trainer) -> None:
        track = self._tracks[name]
        policy = self._policies.get(name, ErrorPolicy())
        gate = self._gate
        # Fixed for the trainer's life: computed once, not per dispatch.
        overrides = _overrides_is_trainable(trainer)
        watched = self._watched(trainer, overrides)
        locked_names = trainer.retrieved_model_names
        locks = self._locks_for(locked_names)
        seen_before_no: dict[str, int] | None = None
        while self._dispatching:
            if gate.paused:
                await gate.wait_resumed()
            readiness = self._precheck(trainer, seen_before_no, overrides)
            if not readiness.ready:
                track.state = TrainerState.WAITING
                await wait_for_readiness(readiness, self._users)
                seen_before_no = None
                continue
            track.state = TrainerState.QUEUED
            if len(trainer._retrieved_model_names) != len(locked_names):
                locked_names = trainer.retrieved_model_names  # only ever grows
                locks = self._locks_for(locked_names)
            held: list[Slots] = []
            try:
                for lock in locks:
                    if not lock.try_acquire():  # free: no await, no loop trip
                        await lock.acquire()
                    held.append(lock)
                # A run counts as in flight only once it has a worker: pause()
                # must not wait for runs queued behind a parked one.
                if not self._slots.try_acquire():
                    await self._slots.acquire()
                try:
                    # Granted while paused: keep the slot (and the place in the
                    # queue) until resumed. Handing it back would send this
                    # trainer behind the others at every pause, and a storm of
                    # pauses could starve it for good.
                    while gate.paused and self._dispatching:
                        await gate.wait_resumed()
                    if not self._dispatching:
                        continue
                    run = _Outcome(
                        {n: c.collected for n, c in watched},
                        trainer._training_mark(),
                    )
                    outcome = await self._run_once(
                        name, trainer, track, run, watched, locks, overrides
                    )
                finally:
                    self._slots.release()
            finally:
                for lock in reversed(held):
                    lock.release()
            if len(trainer._retrieved_model_names) != len(locked_names):
                self._warn_late_retrieval(name, trainer, locked_names)
            if outcome is None:  # failed
                if not await self._handle_failure(
                    name, trainer, track, policy, run.mark
                ):
                    return
                continue
            track.consecutive_failures = 0
            seen_before_no = None if outcome else run.seen

    def _chaining(
        self,
        name: str,
        trainer: Trainer,
        track: _Track,
        outcome: _Outcome,
        watched: Sequence[_Watched],
        locks: Sequence[Slots],
        overrides: bool,
    ) -> Callable[[], None]:
        """What the worker runs: ``run()``, then ``run()`` again at once while the
        trainer is still trainable and nothing says otherwise, without a trip
        through the loop. When the trainer lacks data, the worker may wait in
        place for it (``linger``) and run again as soon as it comes.

        Each run but the last is accounted here (the loop reads the counters;
        events go to it when someone listens), and so is the last one when the
        worker waited in vain after it (``outcome.accounted``); otherwise the
        last one's outcome goes back to the loop in ``outcome`` as a single run's
        would.
        """
        gate, slots, locked = self._gate, self._slots, len(locks)
        users, lingering, linger = self._users, self._lingering, self._linger
        everyone = [(n, u.collector) for n, u in users.items()]
        # A cancellation of the awaiting task is requested on the loop at once
        # (task.cancel()), before the executor's handler runs: read it too.
        task = asyncio.current_task()
        requests = task.cancelling() if task is not None else 0

        def free() -> bool:
            """Whether nothing but data keeps the worker from running again."""
            return (
                not outcome.stopped
                and (task is None or task.cancelling() == requests)
                and self._dispatching
                and not gate.paused
                and not slots.contended  # another trainer waits for a worker
                and not any(lock.contended for lock in locks)
                and len(trainer._retrieved_model_names) == locked  # all locked
            )

        def ready() -> bool:
            return free() and self._precheck(trainer, None, overrides).ready

        def account(end: float) -> None:
            """Count the run that just ended, as the loop would; its events go
            to the loop in order."""
            start = track.last_start
            assert start is not None
            track.consecutive_failures = 0
            track.last_end, track.last_duration = end, end - start
            record = self._record_run(
                name, trainer, start, end, None, True, outcome.collected, self._post
            )
            self._account(
                name,
                track,
                outcome,
                start,
                end,
                cancelled=False,
                new_items=record.new_items,
                emit=self._post,
            )

        def settle(end: float) -> None:
            """Account the run that ended here, for good: the loop will not.
            A failure after it (a pre-check that raises) is not that run's,
            and a retry must not give back the data it took."""
            outcome.accounted = True
            account(end)
            outcome.mark = trainer._training_mark()

        def wait_in_place(readiness: Readiness, end: float) -> bool:
            """Wait up to ``linger`` for the data the trainer lacks; return
            whether it may run now. The run that ended is accounted first."""
            if linger <= 0 or (
                not readiness.wake_totals and readiness.deadline is None
            ):
                return False
            timeout = linger
            if readiness.deadline is not None:
                until = _clock.real_seconds_until(readiness.deadline)
                timeout = min(timeout, max(0.0, until))

            def announce() -> None:  # counted as waiting: now the run is over
                track.state = TrainerState.WAITING
                settle(end)

            token = lingering.wait(
                [(users[n].collector, t) for n, t in readiness.wake_totals.items()],
                timeout,
                free,
                announce,
            )
            try:
                go = ready()
            except BaseException:
                outcome.lingered = token
                raise
            if not go:
                # counted as waiting until the loop has taken the worker back:
                # status() must not show a run in flight that is not there
                outcome.lingered = token
                return False
            lingering.leave(token)
            outcome.accounted = False
            track.state = TrainerState.RUNNING
            return True

        def run() -> None:
            outcome.started = True
            try:
                outcome.trained = bool(trainer.run())
                while outcome.trained and free():
                    end = time.time()
                    try:
                        readiness = self._precheck(trainer, None, overrides)
                    except BaseException:
                        settle(end)  # that run trained; what failed came after it
                        raise
                    if readiness.ready:
                        account(end)
                    elif not wait_in_place(readiness, end):
                        break
                    outcome.seen = {n: c.collected for n, c in watched}
                    outcome.mark = trainer._training_mark()
                    outcome.collected = {n: c.collected for n, c in everyone}
                    track.last_start = now = time.time()
                    if self._listening():
                        self._post(
                            ServiceEvent(EventKind.STARTED, trainer=name, time=now)
                        )
                    outcome.trained = bool(trainer.run())
            except BaseException as exc:  # noqa: BLE001 - the scheduler reports it
                outcome.error = exc
            finally:
                outcome.done = True

        return run

    def _stop_chain(self, outcome: _Outcome) -> None:
        """On the loop, as a chain's task is cancelled: no further run, and a
        worker waiting in place goes back now."""
        outcome.stop()
        self._lingering.nudge()

    def _post(self, event: ServiceEvent) -> None:
        """From a worker: emit ``event`` on the loop, in order. Events posted
        while a flush is pending ride on it: one loop wake-up for a burst."""
        self._posted.append(event)
        if not self._flush_pending:
            self._flush_pending = True
            assert self._call is not None
            self._call(self._flush_posted)

    def _flush_posted(self) -> None:
        self._flush_pending = False  # before draining: a later post schedules anew
        posted = self._posted
        while posted:
            self._emit(posted.popleft())

    async def _run_once(
        self,
        name: str,
        trainer: Trainer,
        track: _Track,
        outcome: _Outcome,
        watched: Sequence[_Watched],
        locks: Sequence[Slots],
        overrides: bool,
    ) -> bool | None:
        gate = self._gate
        gate.run_started()
        track.state = TrainerState.RUNNING
        start = track.last_start = time.time()
        outcome.collected = {n: u.collector.collected for n, u in self._users.items()}
        if self._listening():
            self._emit(ServiceEvent(EventKind.STARTED, trainer=name, time=start))

        def abandoned() -> None:
            logger.error(
                "trainer %r did not finish its run in time after cancellation; "
                "its worker thread was left running",
                name,
            )

        cancelled = True
        try:
            if self._local is not None:
                await self._local.run(
                    self._chaining(
                        name, trainer, track, outcome, watched, locks, overrides
                    ),
                    gate=gate,
                    on_abandoned=abandoned,
                    on_cancel=partial(self._stop_chain, outcome),
                )
            else:
                await self._executor.run(
                    _recording(trainer, outcome), gate=gate, on_abandoned=abandoned
                )
            cancelled = False
        except Exception as exc:  # noqa: BLE001 - the executor's own failure
            outcome.error, outcome.done = exc, True
            cancelled = False
        finally:
            gate.run_finished()
            if outcome.lingered is not None:
                self._lingering.leave(outcome.lingered)
            track.state = TrainerState.WAITING
            if outcome.accounted and outcome.done:  # the worker counted the run
                if outcome.error is not None:  # what failed after it still counts
                    self._account(
                        name, track, outcome, start, time.time(), cancelled=cancelled
                    )
            else:
                end = track.last_end = time.time()
                # a chain's last run started in the worker
                start = track.last_start if track.last_start is not None else start
                track.last_duration = end - start
                if outcome.done:  # counted even when it ended as its task was cancelled
                    record = self._record_run(
                        name,
                        trainer,
                        start,
                        end,
                        outcome.error,
                        bool(outcome.trained),
                        outcome.collected,
                    )
                    self._account(
                        name,
                        track,
                        outcome,
                        start,
                        end,
                        cancelled=cancelled,
                        new_items=record.new_items,
                    )
                else:
                    self._given_up[name] = outcome
        return None if outcome.error is not None else outcome.trained

    def _account(
        self,
        name: str,
        track: _Track,
        outcome: _Outcome,
        start: float,
        end: float,
        *,
        cancelled: bool,
        new_items: Mapping[str, int] | None = None,
        emit: Callable[[ServiceEvent], None] | None = None,
    ) -> None:
        """Count how a run ended; announce it. ``emit``: for a run that ended
        well, from a worker (:meth:`_post`)."""
        error = outcome.error
        if error is None:
            if outcome.trained:
                track.runs += 1
            else:
                track.skipped += 1
            if self._listening():
                (emit or self._emit)(
                    ServiceEvent(
                        EventKind.FINISHED,
                        trainer=name,
                        time=end,
                        duration=end - start,
                        trained=outcome.trained,
                        new_items=new_items,
                    )
                )
            return
        track.failures += 1
        track.consecutive_failures += 1
        track.last_error = f"{type(error).__name__}: {error}"
        track.last_exception = error
        logger.error("trainer %r failed", name, exc_info=error)
        if cancelled:
            # No policy applies any more (the service is stopping), but the
            # failure is reported, and an interrupt still ends the process.
            self._emit(
                ServiceEvent(EventKind.FAILED, trainer=name, error=track.last_error)
            )
            if is_interrupt(error):
                self._on_fatal(name, error)

    def _record_run(
        self,
        name: str,
        trainer: Trainer,
        start: float,
        end: float,
        error: BaseException | None,
        trained: bool,
        collected: dict[str, int],
        emit: Callable[[ServiceEvent], None] | None = None,
    ) -> RunRecord:
        """Record the run in the trainer's metrics; announce what it logged
        (with ``emit``: from a worker, :meth:`_post`)."""
        outcome: RunOutcome = (
            "failed" if error is not None else "trained" if trained else "skipped"
        )
        record = trainer.metrics.record_run(
            started=start, duration=end - start, outcome=outcome, collected=collected
        )
        logged = trainer.metrics.take_logged()
        if logged and self._listening():
            (emit or self._emit)(
                ServiceEvent(
                    EventKind.METRICS, trainer=name, run=record.run, metrics=logged
                )
            )
        return record

    async def _handle_failure(
        self,
        name: str,
        trainer: Trainer,
        track: _Track,
        policy: ErrorPolicy,
        mark: tuple[float, dict[str, int]],
    ) -> bool:
        """Apply the policy; return whether the trainer goes on."""
        error = track.last_exception
        assert error is not None
        action = policy.action
        if action == "retry" and track.consecutive_failures > policy.max_retries:
            action = policy.exhausted
        if is_interrupt(error):
            action = "stop"  # the process is asked to end: no retry holds it
        self._emit(
            ServiceEvent(
                EventKind.FAILED, trainer=name, error=track.last_error, action=action
            )
        )
        if action == "retry":
            track.state = TrainerState.RETRYING
            # retry on the same data: undo what the failed run's is_trainable() took
            trainer._restore_training_mark(mark)
            await anyio.sleep(policy.delay(track.consecutive_failures))
            return True
        if action == "disable":
            track.state = TrainerState.DISABLED
            return False
        track.state = TrainerState.FAILED
        self._on_fatal(name, error)
        return False
