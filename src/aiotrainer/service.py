"""TrainerService: the embedding API."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskStatus

from . import time as _clock
from ._validate import check_distinct, check_named, check_seconds
from .data.buffer import DataBuffer
from .data.dicts import DataCollectorsDict, DataUsersDict
from .events import EventHub, EventKind, EventStream, ServiceEvent
from .model.dicts import InferenceModelsDict, TrainingModelsDict
from .model.interface import TrainingModel
from .scheduler._housekeeping import Housekeeping
from .scheduler.control import PauseControl
from .scheduler.errors import ServiceStateError, TrainerFailedError
from .scheduler.executor import Executor, LocalExecutor
from .scheduler.pause_gate import PauseGate
from .scheduler.policy import ErrorPolicy
from .scheduler.scheduler import Scheduler, is_interrupt, never_run_status
from .state.checkpointing import Checkpointer, CheckpointOptions
from .state.restore import RestoreReport
from .state.store import CheckpointStore
from .status import (
    BufferStatus,
    ServiceState,
    ServiceStatus,
)
from .trainer.base import Trainer
from .trainer.dicts import TrainersDict

__all__ = ["TrainerService"]

logger = logging.getLogger("aiotrainer.service")

PolicySpec = ErrorPolicy | str


def _with_message(exc: Exception, message: str) -> Exception:
    """A copy of ``exc``, same type and attributes, with another message.

    Not ``type(exc)(message)``: an error class may take other arguments
    (``UnknownNameError(kind, name, known)``).
    """
    copy = type(exc).__new__(type(exc))
    copy.args = (message,)
    copy.__dict__.update(exc.__dict__)
    return copy


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out


class _Interrupted(Exception):
    """Stands in for a trainer's KeyboardInterrupt / SystemExit inside the task
    group (which it cancels, body included) until ``__aexit__`` re-raises it."""


class TrainerService:
    """Train models in the background while the agent runs.

    ::

        async with TrainerService(models=..., buffers=..., trainers=...) as service:
            collector = service.data_collectors.acquire("experience")
            model = service.inference_models["policy"]
            ...  # collector.collect(x) from any thread; model(x) any time

    Entering starts the scheduler; leaving stops it gracefully: no new runs, runs
    in flight finish (within ``shutdown_timeout``), then it returns. Every
    argument is checked here, before anything starts.

    :param models: name -> :class:`TrainingModel`.
    :param buffers: name -> :class:`DataBuffer`; each gets a data user and a
        collector of the same name.
    :param trainers: name -> :class:`Trainer`; each object at most once.
    :param max_workers: worker threads that may run trainers at once, >= 1.
    :param on_error: an error policy (``"stop"``, ``"retry"``, ``"disable"`` or an
        :class:`ErrorPolicy`) for all trainers, or a mapping trainer name -> policy
        (trainers not named get ``"stop"``).
    :param shutdown_timeout: seconds that runs in flight get to finish at shutdown.
    :param recheck_interval: seconds after which a trainer that overrides
        ``is_trainable`` and said no is asked again without new data.
    :param linger: seconds a worker may wait in place after a run for the data
        its trainer needs next, so that the ``collect()`` bringing it starts the
        next run directly, without a trip through the event loop (0: never
        wait). A pause, a stop, or another trainer needing the worker sends it
        back at once; a waiting worker uses no CPU. Only the built-in
        :class:`LocalExecutor` waits in place.
    :param executor: where runs happen; a :class:`LocalExecutor` by default.
    :param state_dir: where checkpoints go (created with owner-only permissions).
        Checkpoints may contain pickled objects: keep them trusted input.
    :param save_interval: seconds between periodic checkpoints; ``None``: none.
    :param save_on_shutdown: save a final checkpoint when the service stops.
    :param keep_last: keep only the newest N checkpoints (``None``: all).
    :param keep_every: with ``keep_last``, also keep every M-th checkpoint.
    :param resume_from: ``"latest"`` (a fresh start if there is none yet), a
        checkpoint name in ``state_dir``, or a path: loaded before the first run.
    :param strict: refuse a checkpoint that does not match the service exactly
        (a buffer too small for the items saved included); with ``False``, load
        what matches and report the rest in the log and :attr:`restore_report`.
    :param save_timeout: seconds the final checkpoint may take; one that takes
        longer is reported as failed (log, ``save_failed`` event, status).
    :raises TypeError: for arguments of the wrong type.
    :raises ValueError: for bad values, e.g. ``max_workers < 1``, or one model
        or buffer object under two names.
    :raises KeyError: for a trainer condition naming an unknown data user.
    """

    def __init__(
        self,
        models: Mapping[str, TrainingModel[Any]] | None = None,
        buffers: Mapping[str, DataBuffer[Any, Any]] | None = None,
        trainers: Mapping[str, Trainer] | None = None,
        *,
        max_workers: int = 1,
        on_error: PolicySpec | Mapping[str, PolicySpec] = "stop",
        shutdown_timeout: float = 30.0,
        recheck_interval: float = 1.0,
        linger: float = 0.1,
        executor: Executor | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        save_interval: float | None = None,
        save_on_shutdown: bool = True,
        keep_last: int | None = None,
        keep_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        strict: bool = True,
        save_timeout: float = 60.0,
    ) -> None:
        model_map = check_named("models", models or {}, TrainingModel)
        buffer_map = check_named("buffers", buffers or {}, DataBuffer)
        trainer_map = check_named("trainers", trainers or {}, Trainer)
        check_distinct("model", model_map)
        check_distinct("buffer", buffer_map)
        if not trainer_map:
            logger.warning(
                "TrainerService created without trainers: nothing will train"
            )
        self._shutdown_timeout = check_seconds("shutdown_timeout", shutdown_timeout)
        self._recheck_interval = check_seconds(
            "recheck_interval", recheck_interval, allow_zero=False
        )
        self._linger = check_seconds("linger", linger)
        self._owns_executor = executor is None
        if executor is None:
            executor = LocalExecutor(max_workers, cancel_timeout=self._shutdown_timeout)
        elif not isinstance(executor, Executor):
            raise TypeError(f"executor must implement Executor, got {executor!r}")
        self._executor = executor
        self._policies = ErrorPolicy.for_trainers(on_error, trainer_map)

        self.training_models = TrainingModelsDict(model_map)
        """The training models, by name (the trainers' side)."""
        self.data_users = DataUsersDict.from_data_buffers(buffer_map)
        """One data user per buffer, by the buffer's name."""
        self.trainers = TrainersDict()
        """The trainers, by name."""
        for name, trainer in trainer_map.items():
            self.trainers[name] = trainer
        for name, trainer in self.trainers.items():
            try:
                trainer.attach_training_models(self.training_models)
                trainer.attach_data_users(self.data_users)
            except (KeyError, ValueError, TypeError) as exc:
                message = exc.args[0] if exc.args else str(exc)
                raise _with_message(exc, f"trainer {name!r}: {message}") from exc

        self._hub = EventHub()
        self._housekeeping = Housekeeping(lambda error: self._fatal("", error))
        self._control = PauseControl(
            self.trainers,
            in_thread=self._housekeeping.run,
            emit=self._hub.emit,
            get_state=lambda: self._state,
            set_state=self._set_state,
            pause_clock=self._pause_clock,
        )
        self._checkpoints = Checkpointer(
            CheckpointOptions(
                state_dir=state_dir,
                save_interval=save_interval,
                save_on_shutdown=save_on_shutdown,
                keep_last=keep_last,
                keep_every=keep_every,
                resume_from=resume_from,
                strict=strict,
                save_timeout=save_timeout,
            ),
            models=self.training_models,
            data_users=self.data_users,
            trainers=self.trainers,
            in_thread=self._housekeeping.run,
            quiesced=self._control.quiesced,
            emit=self._hub.emit,
        )
        self._periodic: anyio.CancelScope | None = None
        self._restore_cancel_timeout: float | None = None
        self._state = ServiceState.CREATED
        self._stack: AsyncExitStack | None = None
        self._scheduler: Scheduler | None = None
        self._stop_requested: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._failure: TrainerFailedError | None = None
        self._interrupt: BaseException | None = None
        self._started_at: float | None = None
        self._paused_clock = False

    # -- what the agent uses -----------------------------------------------------

    @property
    def data_collectors(self) -> DataCollectorsDict:
        """The collectors, by buffer name; ``acquire(name)`` one to feed it."""
        return self.data_users.data_collectors_dict

    @property
    def inference_models(self) -> InferenceModelsDict:
        """The agent's inference models, by model name."""
        return self.training_models.inference_models_dict

    @property
    def state(self) -> ServiceState:
        """The life-cycle state."""
        return self._state

    def _set_state(self, state: ServiceState) -> None:
        self._state = state

    # -- life cycle --------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is not ServiceState.CREATED:
            raise ServiceStateError(
                f"a TrainerService starts once; this one is {self._state.value}"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise ServiceStateError(
                "aiotrainer runs on asyncio (uvloop included) and no asyncio event "
                "loop runs here (trio?); start it under asyncio.run() or "
                "anyio.run(..., backend='asyncio')"
            ) from None
        self._state = ServiceState.STARTING
        # Made before anything awaits: a stop() from now on is never lost.
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(self._serve)
        except BaseException:
            await stack.__aexit__(None, None, None)
            self._state = ServiceState.STOPPED
            self._stopped.set()
            self._raise_interrupt()  # e.g. from a load_state() during the restore
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        self._request_stop()
        try:
            suppress = await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            self._raise_interrupt()
            # One error (the body's own, or a trainer's that stopped the service)
            # surfaces as itself, not wrapped in a group.
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from leaves[0].__cause__
            raise
        except BaseException:
            self._raise_interrupt()
            raise
        self._raise_interrupt()
        return suppress

    def _raise_interrupt(self) -> None:
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None:
            raise interrupt

    async def run_until_stopped(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until :meth:`stop` is called (or a trainer's error stops it).

        For a caller without an ``async with`` block, e.g.
        ``await task_group.start(service.run_until_stopped)``.

        :raises TrainerFailedError: if a trainer's ``"stop"`` policy fired.
        """
        async with self:
            task_status.started()
            assert self._stopped is not None
            await self._stopped.wait()

    async def stop(self) -> None:
        """Stop gracefully and wait until stopped. Idempotent; safe before start.

        Called during the start-up (while the restore runs), the service stops as
        soon as the restore returns, having started no trainer; it then writes no
        final checkpoint (nothing changed since the restore) unless items were
        collected meanwhile.
        """
        self.stop_nowait()
        if self._stopped is not None:
            await self._stopped.wait()

    def stop_nowait(self) -> None:
        """Ask the service to stop, as :meth:`stop` does, without waiting.

        Safe from the event loop's thread only (e.g. a signal handler's task).
        """
        if self._state is ServiceState.CREATED:
            self._state = ServiceState.STOPPED
            self._hub.close()
            return
        self._request_stop()

    aclose = stop
    """The same as :meth:`stop` (resources close with ``aclose()``)."""

    def _request_stop(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()

    def _fatal(self, name: str, error: BaseException) -> None:
        if is_interrupt(error):
            # KeyboardInterrupt / SystemExit: raised from a task it would unwind
            # the event loop itself, skipping the shutdown; __aexit__ re-raises it
            # once the service has stopped in order.
            if self._interrupt is None:
                self._interrupt = error
        elif self._failure is None:
            failure = TrainerFailedError(name, error)
            failure.__cause__ = error
            self._failure = failure
        self._request_stop()

    async def _serve(self, *, task_status: TaskStatus[None]) -> None:
        assert self._stop_requested is not None and self._stopped is not None
        gate = PauseGate()
        scheduler = self._scheduler = Scheduler(
            self.trainers,
            self.data_users,
            self._executor,
            gate,
            policies=self._policies,
            emit=self._hub.emit,
            on_fatal=self._fatal,
            recheck_interval=self._recheck_interval,
            listening=self._hub.listening,
            linger=self._linger,
        )
        self._control.bind(gate, scheduler)
        collected = self._collected()
        try:
            await self._checkpoints.open()
            if self._stop_requested.is_set():  # stop() came during the restore
                self._state = ServiceState.STOPPING
                self._hub.emit(ServiceEvent(EventKind.SERVICE_STOPPING))
                task_status.started()
                self._log_stopped_while_starting(collected)
            else:
                async with anyio.create_task_group() as tg:
                    try:
                        # Announced first: the trainers' own events may follow
                        # at once.
                        self._started_at = time.time()  # wall clock: for people
                        self._state = ServiceState.RUNNING
                        self._hub.emit(ServiceEvent(EventKind.SERVICE_STARTED))
                        await tg.start(scheduler.run)
                        if self._checkpoints.options.save_interval is not None:
                            self._periodic = anyio.CancelScope()
                            tg.start_soon(
                                self._save_periodically, name="periodic saving"
                            )
                        task_status.started()
                        await self._stop_requested.wait()
                        await self._shutdown(scheduler, gate)
                        tg.cancel_scope.cancel()
                    finally:
                        # Cancelled from outside too: a run parked at a pause
                        # point must go on, or the executor would wait for it in
                        # vain.
                        gate.release_threads()
        finally:
            if self._owns_executor:
                assert isinstance(self._executor, LocalExecutor)
                await self._executor.aclose()
            elif self._restore_cancel_timeout is not None:
                assert isinstance(self._executor, LocalExecutor)
                self._executor.cancel_timeout = self._restore_cancel_timeout
            # Only a service that started saves on the way out: one whose restore
            # failed must not write its fresh state over what it failed to load;
            # one stopped during its start-up has nothing new to save unless
            # items came meanwhile.
            if self._checkpoints.saves_on_shutdown and (
                self._started_at or collected != self._collected()
            ):
                with anyio.CancelScope(shield=True):
                    await self._checkpoints.save_final(scheduler.still_running())
            self._pause_clock(False)  # a stopped service holds no clock still
            self._state = ServiceState.STOPPED
            self._hub.emit(ServiceEvent(EventKind.SERVICE_STOPPED))
            self._hub.close()
            self._stopped.set()
        if self._interrupt is not None:
            raise _Interrupted  # ends the body; __aexit__ raises the interrupt
        if self._failure is not None:
            raise self._failure

    def _collected(self) -> dict[str, int]:
        return {name: u.collector.collected for name, u in self.data_users.items()}

    def _log_stopped_while_starting(self, collected: dict[str, int]) -> None:
        """Say whether a service stopped during its start-up saves, and why."""
        if not self._checkpoints.saves_on_shutdown:
            logger.info("stopped during start-up, before any run")
        elif collected == self._collected():
            logger.info(
                "stopped during start-up, before any run: no final checkpoint "
                "(nothing changed since %s)",
                "the restore" if self.restore_report else "the start",
            )
        else:
            logger.info(
                "stopped during start-up, before any run; items were collected "
                "meanwhile: a final checkpoint keeps them"
            )

    async def _shutdown(self, scheduler: Scheduler, gate: PauseGate) -> None:
        self._state = ServiceState.STOPPING
        self._hub.emit(ServiceEvent(EventKind.SERVICE_STOPPING))
        if self._periodic is not None:
            self._periodic.cancel()  # the final save comes after the runs end
        scheduler.stop_dispatching()
        gate.release_threads()
        await scheduler.lingerers_back()  # nudged: no user code delays them
        with anyio.move_on_after(self._shutdown_timeout) as scope:
            await gate.wait_idle()
        if scope.cancelled_caught:
            logger.error(
                "%d run(s) still in flight %.1f s after shutdown began; they are "
                "abandoned to finish alone",
                gate.statistics().running,
                self._shutdown_timeout,
            )
            if isinstance(self._executor, LocalExecutor):
                # They had their shutdown_timeout: the cancellation that follows
                # must not wait for them as long again (nor for ever, with a
                # caller's executor whose cancel_timeout is infinite).
                self._restore_cancel_timeout = self._executor.cancel_timeout
                self._executor.cancel_timeout = 0.0

    async def _save_periodically(self) -> None:
        assert self._periodic is not None
        with self._periodic:  # cancelled when shutdown begins
            await self._checkpoints.save_periodically()

    # -- state ---------------------------------------------------------------------

    @property
    def store(self) -> CheckpointStore | None:
        """The checkpoint store (once started with a ``state_dir``)."""
        return self._checkpoints.store

    @property
    def last_save_held(self) -> float | None:
        """Seconds trainers were held quiesced by the last save (the capture)."""
        return self._checkpoints.last_save_held

    @property
    def last_save_duration(self) -> float | None:
        """Seconds the last save took in all (capture + disk)."""
        return self._checkpoints.last_save_duration

    @property
    def restore_report(self) -> RestoreReport | None:
        """What the start-up restore loaded and left out, if it ran."""
        return self._checkpoints.restore_report

    async def save_state(self, *, timeout: float | None = None) -> Path:  # noqa: ASYNC109
        """Write a checkpoint of every model, buffer and trainer; return its path.

        Trainers are quiesced (as by :meth:`pause`) only while the state is copied
        in memory; producers are never blocked, and items collected meanwhile go
        into the next checkpoint. The disk writes run in a worker thread. The
        checkpoint is complete or invisible (see :class:`~aiotrainer.CheckpointStore`).

        :param timeout: seconds to wait for the runs in flight to finish or park
            before the capture (``None``: no bound).
        :raises ServiceStateError: without a ``state_dir``, before start, or
            after a refused restore.
        :raises PauseTimeoutError: on timeout, naming the trainers still
            running; nothing is saved and the trainers go on.
        :raises CheckpointSaveError: when the write fails (e.g. the disk is full);
            the service keeps running and status()/events() show the error.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        return await self._checkpoints.save(within=timeout)

    # -- control -----------------------------------------------------------------

    async def pause(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Pause: start no run, and return once every run in flight has finished or
        is parked at a :func:`~aiotrainer.pause_point`; then call ``on_paused()`` on
        each trainer (in a worker thread), and stop the clock
        (:mod:`aiotrainer.time`) as pamiq-core's launcher does. Idempotent; safe
        to call concurrently.

        If an ``on_paused()`` raises, the trainers that already got it get
        ``on_resumed()``, the service keeps running, and the error is raised.

        :param timeout: seconds to wait for the runs in flight (``None``: no
            bound). On timeout the pause is undone.
        :raises PauseTimeoutError: on timeout, naming the trainers still running.
        :raises ServiceStateError: before start or after stop, or when a
            :meth:`resume` called the pending pause off.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        await self._control.pause(timeout)

    def _pause_clock(self, pause: bool) -> None:
        """Pause or resume :mod:`aiotrainer.time` with the service, as pamiq-core's
        launcher does; only a clock this service paused is resumed by it."""
        if pause and not self._paused_clock:
            self._paused_clock = not _clock.is_paused()
            _clock.pause()
        elif not pause and self._paused_clock:
            self._paused_clock = False
            _clock.resume()

    async def resume(self) -> None:
        """Resume after :meth:`pause`: restart the clock, call ``on_resumed()`` on
        each trainer, then let runs start again; a :meth:`pause` still waiting for
        runs is called off. Idempotent; safe to call concurrently.

        :raises ServiceStateError: before start or after stop.
        """
        await self._control.resume()

    # -- inspection --------------------------------------------------------------

    def status(self) -> ServiceStatus:
        """A snapshot of the service, its trainers and its buffers."""
        buffers = {}
        for name, user in self.data_users.items():
            stats = user.statistics()
            buffers[name] = BufferStatus(
                size=stats.stored,
                max_size=user.buffer.max_size,
                collected=stats.collected,
                pending=stats.pending,
                dropped=stats.dropped,
                restored=stats.restored,
                evicted=stats.dropped_in_buffer,
                lost=stats.dropped_in_queue,
            )
        scheduler = self._scheduler
        if scheduler is None:
            trainers = dict.fromkeys(self.trainers, never_run_status())
        else:
            trainers = scheduler.trainer_statuses()
        return ServiceStatus(
            state=self._state,
            max_workers=self._executor.max_workers,
            running_trainers=0 if scheduler is None else scheduler.running,
            trainers=trainers,
            abandoned_runs=getattr(self._executor, "abandoned", 0),
            buffers=buffers,
            started_at=self._started_at,
            last_checkpoint=(
                None
                if self._checkpoints.last_checkpoint is None
                else str(self._checkpoints.last_checkpoint.path)
            ),
            last_save_error=self._checkpoints.last_save_error,
            last_save_skipped=self._checkpoints.last_save_skipped,
            saves_failed=self._checkpoints.saves_failed,
            saves_skipped=self._checkpoints.saves_skipped,
        )

    def events(self, *, max_buffer: int = 1024) -> EventStream:
        """Subscribe to the service's events from now on.

        ``async for event in service.events(): ...``; the iteration ends when the
        service stops. A subscriber more than ``max_buffer`` events behind loses
        events (counted in the stream's ``dropped``); the service never waits.
        """
        if (
            isinstance(max_buffer, bool)
            or not isinstance(max_buffer, int)
            or max_buffer < 1
        ):
            raise ValueError(f"max_buffer must be an int >= 1, got {max_buffer!r}")
        return self._hub.subscribe_with(max_buffer)

    def __repr__(self) -> str:
        return (
            f"<TrainerService state={self._state.value} trainers={list(self.trainers)} "
            f"max_workers={self._executor.max_workers}>"
        )
