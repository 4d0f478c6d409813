"""The service's checkpoint duty: open the store, restore, save, save periodically.

:class:`Checkpointer` holds no event loop objects of its own; the service hands it
the three things it needs: how to run blocking work in a thread, how to hold the
trainers still for a capture, and where events go.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from .._validate import check_seconds
from ..data.dicts import DataUsersDict
from ..events import EventKind, ServiceEvent
from ..model.dicts import TrainingModelsDict
from ..scheduler.errors import PauseTimeoutError, ServiceStateError
from ..trainer.dicts import TrainersDict
from . import restore as _restore
from . import snapshot as _snapshot
from .checkpoint import Checkpoint
from .errors import (
    CheckpointNotFoundError,
    CheckpointRefusedError,
    CheckpointSaveError,
)
from .retention import RetentionPolicy
from .store import CheckpointStore, verify_checkpoint

__all__ = ["MIN_SAVE_INTERVAL", "CheckpointOptions", "Checkpointer"]

#: The shortest ``save_interval`` accepted, in seconds.
MIN_SAVE_INTERVAL = 0.01

logger = logging.getLogger("aiotrainer.service")

T = TypeVar("T")
InThread = Callable[[Callable[[], Any]], Awaitable[Any]]


@dataclass(frozen=True)
class CheckpointOptions:
    """The checkpoint arguments of :class:`~aiotrainer.TrainerService`, checked."""

    state_dir: str | os.PathLike[str] | None = None
    """Where checkpoints go; stored as a :class:`~pathlib.Path`."""
    save_interval: float | None = None
    save_on_shutdown: bool = True
    keep_last: int | None = None
    keep_every: int | None = None
    resume_from: str | os.PathLike[str] | None = None
    strict: bool = True
    save_timeout: float = 60.0
    """Seconds the final checkpoint may take."""

    def __post_init__(self) -> None:
        if self.state_dir is not None and not isinstance(
            self.state_dir, str | os.PathLike
        ):
            raise TypeError(f"state_dir must be a path or None, got {self.state_dir!r}")
        if self.save_interval is not None:
            interval = check_seconds("save_interval", self.save_interval)
            if interval < MIN_SAVE_INTERVAL:
                raise ValueError(
                    f"save_interval must be >= {MIN_SAVE_INTERVAL} seconds (a "
                    f"checkpoint takes longer than that), got {self.save_interval!r}"
                )
        RetentionPolicy(keep_last=self.keep_last, keep_every=self.keep_every)
        check_seconds("save_timeout", self.save_timeout, allow_zero=False)
        if isinstance(self.state_dir, str) and not self.state_dir:
            raise ValueError(
                "state_dir must name a directory, got '' (it would mean the current "
                "directory); expected state_dir='path/to/checkpoints'"
            )
        for flag in ("save_on_shutdown", "strict"):
            value = getattr(self, flag)
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {value!r}")
        ref = self.resume_from
        if ref is not None and not isinstance(ref, str | os.PathLike):
            raise TypeError(
                f"resume_from must be 'latest', a checkpoint name or a path, got {ref!r}"
            )
        if self.state_dir is None:
            needs = [
                n
                for n in ("save_interval", "keep_last", "keep_every")
                if getattr(self, n) is not None
            ]
            if ref == "latest":
                needs.append("resume_from='latest'")
            if needs:
                raise ValueError(
                    f"{', '.join(needs)} need a state_dir to keep checkpoints in; "
                    "expected state_dir='path/to/checkpoints'"
                )
        if self.state_dir is not None:
            object.__setattr__(self, "state_dir", Path(self.state_dir))


class Checkpointer:
    """Saves and restores a service's models, data users and trainers.

    :param options: the checked options.
    :param in_thread: runs a blocking callable in a worker thread.
    :param quiesced: an async context manager holding the trainers still.
    :param emit: sends a service event.
    """

    def __init__(
        self,
        options: CheckpointOptions,
        *,
        models: TrainingModelsDict,
        data_users: DataUsersDict,
        trainers: TrainersDict,
        in_thread: InThread,
        quiesced: Callable[[float | None], AbstractAsyncContextManager[None]],
        emit: Callable[[ServiceEvent], None],
    ) -> None:
        self.options = options
        self._models = models
        self._users = data_users
        self._trainers = trainers
        self._in_thread = in_thread
        self._quiesced = quiesced
        self._emit = emit
        self._lock = anyio.Lock()
        self.store: CheckpointStore | None = None
        """The store, once opened."""
        self.last_checkpoint: Checkpoint | None = None
        self.last_save_error: str | None = None
        self.last_save_held: float | None = None
        """Seconds trainers were held quiesced by the last save (the capture)."""
        self.last_save_duration: float | None = None
        """Seconds the last save took in all (capture + disk)."""
        self.restore_report: _restore.RestoreReport | None = None
        """What the start-up restore loaded and left out, if it ran."""
        self._warned_empty: set[str] = set()
        self.last_save_skipped: str | None = None
        self.saves_failed = 0
        self.saves_skipped = 0
        self._refused: str | None = None

    @property
    def saves_on_shutdown(self) -> bool:
        """Whether a final checkpoint is due when the service stops."""
        return self.options.save_on_shutdown and self.store is not None

    # -- reporting ---------------------------------------------------------------

    def _failed(self, reason: str) -> None:
        self.last_save_error = reason
        self.saves_failed += 1
        logger.error("checkpoint failed: %s", reason)
        self._emit(ServiceEvent(EventKind.SAVE_FAILED, error=reason))

    def _skipped(self, reason: str) -> None:
        self.last_save_skipped = reason
        self.saves_skipped += 1
        logger.error("checkpoint skipped: %s", reason)
        self._emit(ServiceEvent(EventKind.SAVE_SKIPPED, error=reason))

    def _saved(self, checkpoint: Checkpoint, held: float, started: float) -> None:
        self.last_checkpoint = checkpoint
        self.last_save_error = self.last_save_skipped = None
        self.last_save_held = held
        self.last_save_duration = time.perf_counter() - started
        self._emit(
            ServiceEvent(
                EventKind.SAVED,
                path=str(checkpoint.path),
                duration=self.last_save_duration,
            )
        )

    # -- opening and restoring -----------------------------------------------------

    async def open(self) -> None:
        """Open the store (creating it) and restore ``resume_from``, if set.

        :raises CheckpointRefusedError: for ``"latest"`` when checkpoints exist
            but none can be loaded; also any error of the restore. After a
            refused restore, :meth:`save` refuses too.
        """
        options = self.options
        if options.state_dir is not None:
            root = options.state_dir
            keep_last, keep_every = options.keep_last, options.keep_every
            self.store = await self._in_thread(
                lambda: CheckpointStore(
                    root, keep_last=keep_last, keep_every=keep_every
                )
            )
        if options.resume_from is not None:
            try:
                await self._restore(options.resume_from)
            except BaseException as exc:
                self._refused = f"{type(exc).__name__}: {exc}"
                raise

    async def _restore(self, ref: str | os.PathLike[str]) -> None:
        store = self.store

        def find_and_verify() -> Checkpoint | Path | None:
            pamiq_dir = _restore.find_pamiq_state(ref)
            if pamiq_dir is not None:
                return pamiq_dir  # no manifest: nothing to verify
            if store is None:
                return verify_checkpoint(ref)  # read-only: no store to open
            try:
                checkpoint = store.resolve(ref)
            except CheckpointNotFoundError:
                if ref == "latest":
                    refused = store.unreadable()
                    if refused:  # there is state, and none of it loads
                        raise CheckpointRefusedError(store.root, refused) from None
                    return None
                raise
            return store.verify(checkpoint)

        found: Checkpoint | Path | None = await self._in_thread(find_and_verify)
        if found is None:
            logger.info(
                "no checkpoint in %s yet: starting fresh", self.options.state_dir
            )
            return
        users = self._users
        ours = {
            "models": self._models.keys(),
            "data_users": users.keys(),
            "trainers": self._trainers.keys(),
        }
        strict = self.options.strict
        stored: object = None
        if isinstance(found, Path):
            root, source = found, "pamiq-core"
            saved = await self._in_thread(lambda: _restore.pamiq_components(root))
            to_load, differences = _restore.compare(root, saved, ours, strict=strict)
        else:
            root, source = found.path, "aiotrainer"
            stored = found.metadata.get("stored")
            to_load, differences = _restore.check_match(
                found,
                ours,
                strict=strict,
                capacities={n: u.buffer.max_size for n, u in users.items()},
            )
        for difference in differences:
            logger.warning("restoring %s: %s (skipped)", root.name, difference)
        time_restored, lost = await self._in_thread(
            lambda: _restore.load(
                root,
                to_load,
                models=self._models.data,
                data_users=users,
                trainers=self._trainers,
                stored=stored,
            )
        )
        for name, count in lost.items():
            logger.warning(
                "restoring %s: data user %r lost %d item(s) that its buffer "
                "cannot hold",
                root.name,
                name,
                count,
            )
        self.restore_report = _restore.RestoreReport(
            checkpoint=str(root),
            loaded=to_load,
            differences=differences,
            source=source,
            time_restored=time_restored,
            lost=lost,
        )
        if isinstance(found, Checkpoint):
            self.last_checkpoint = found
        logger.info("restored state from %s (%s)", root, source)

    # -- saving ----------------------------------------------------------------------

    async def save(
        self,
        *,
        within: float | None = None,
        cancelled: str | None = "the save was cancelled before it was written",
    ) -> Path:
        """Write a checkpoint now; see :meth:`TrainerService.save_state`
        (``within`` is its ``timeout``).

        :param cancelled: the failure reported if it is cancelled; ``None``: a
            cancellation is no failure (a periodic save that shutdown interrupts,
            the final checkpoint following), only logged.
        """
        store = self.store
        if store is None:
            if self.options.state_dir is None:
                raise ServiceStateError(
                    "cannot save: this service has no state_dir; pass "
                    "TrainerService(..., state_dir='path/to/checkpoints')"
                )
            raise ServiceStateError(
                "cannot save: service not started; use 'async with TrainerService(...)'"
            )
        if self._refused is not None:
            raise ServiceStateError(
                f"cannot save: the restore from {self.options.resume_from!r} was "
                f"refused ({self._refused}); a save now would write this service's "
                f"fresh state as the newest checkpoint in {str(store.root)!r}"
            )
        async with self._lock:
            return await self._save(store, within, cancelled)

    async def _save(
        self, store: CheckpointStore, within: float | None, cancelled: str | None
    ) -> Path:
        started = time.perf_counter()
        users = self._users
        # Filled in the worker threads: what they made is known here even when
        # the cancellation comes as a thread returns.
        captured: list[_snapshot.Capture] = []
        stored: dict[str, int] = {}
        saved: list[Checkpoint] = []

        def capture() -> None:
            captured.append(
                _snapshot.capture(
                    self._models.data, users, self._trainers, staging_root=store.root
                )
            )
            stored.update((n, len(u)) for n, u in users.items())

        held = 0.0
        try:
            async with self._quiesced(within):
                try:
                    await self._in_thread(capture)
                except Exception as exc:
                    raise CheckpointSaveError(store.root, exc) from exc
            held = time.perf_counter() - started
            metadata = _snapshot.describe(
                self._models.keys(),
                users.keys(),
                self._trainers.keys(),
                collected={n: u.collector.collected for n, u in users.items()},
                stored=stored,
                wrote_nothing=captured[0].wrote_nothing,
            )
            self._warn_wrote_nothing(captured[0].wrote_nothing)
            await self._in_thread(
                lambda: saved.append(store.save(captured[0], metadata=metadata))
            )
        except (CheckpointSaveError, PauseTimeoutError) as exc:
            self._failed(str(exc))
            raise
        except BaseException:
            if saved:  # written before the cancellation came: it counts
                self._saved(saved[0], held, started)
            elif cancelled is not None:
                self._failed(cancelled)
            else:
                logger.info("a periodic checkpoint was interrupted by shutdown")
            raise
        finally:
            if captured and not saved:
                # Cancelled between capture and write: its staging directory
                # (and lock) must not wait for the garbage collector.
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self._in_thread(captured[0].discard)
        self._saved(saved[0], held, started)
        return saved[0].path

    def _warn_wrote_nothing(self, wrote_nothing: dict[str, list[str]]) -> None:
        """Log once per model whose save_state wrote no file: its checkpoint
        verifies, yet restores nothing."""
        for name in wrote_nothing.get("models", []):
            if name not in self._warned_empty:
                self._warned_empty.add(name)
                logger.warning(
                    "model %r saved no state; override save_state/load_state", name
                )

    async def save_periodically(self) -> None:
        """Save every ``save_interval`` seconds until cancelled; failures are
        reported (status, events, log) and retried at the next interval."""
        interval = self.options.save_interval
        assert interval is not None
        # Shutdown cancels this task and then writes the final checkpoint: a
        # periodic save it interrupts has not failed. Without a final save to
        # follow, the interruption loses what it would have saved: reported.
        cancelled = (
            None
            if self.saves_on_shutdown
            else "the periodic save was cancelled before it was written"
        )
        while True:
            await anyio.sleep(interval)
            try:
                await self.save(cancelled=cancelled)
            except (CheckpointSaveError, PauseTimeoutError):
                continue

    async def save_final(self, still_running: list[str]) -> None:
        """The checkpoint written when the service stops, within ``save_timeout``.

        Skipped (and reported) while runs abandoned at shutdown may still change
        their trainers' models; failures and timeouts are reported too.

        :param still_running: trainers whose abandoned runs have not ended.
        """
        if still_running:
            self._skipped(
                "the final checkpoint was skipped: the run(s) of trainer(s) "
                f"{', '.join(map(repr, still_running))} outlived shutdown_timeout and "
                "may still be changing their models, which a capture would catch "
                "half-updated"
            )
            return
        if self._refused is not None:
            return  # a refused restore: never write over what it failed to load
        timeout = self.options.save_timeout
        late = f"the final checkpoint did not finish within save_timeout={timeout} s"
        failed_before = self.saves_failed
        with anyio.move_on_after(timeout) as bound:
            try:
                path = await self.save(cancelled=late)
            except (CheckpointSaveError, PauseTimeoutError):
                return  # reported already
            logger.info("final checkpoint: %s", path)
        if bound.cancelled_caught and self.saves_failed == failed_before:
            self._failed(late)  # it timed out before the save began
