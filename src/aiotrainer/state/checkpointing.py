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

from .._validate import check_int, check_seconds
from ..data.dicts import DataUsersDict
from ..events import EventKind, ServiceEvent
from ..model.dicts import TrainingModelsDict
from ..scheduler.errors import ServiceStateError
from ..trainer.dicts import TrainersDict
from . import restore as _restore
from . import snapshot as _snapshot
from .checkpoint import Checkpoint
from .errors import CheckpointNotFoundError, CheckpointSaveError
from .store import CheckpointStore, verify_checkpoint

__all__ = ["CheckpointOptions", "Checkpointer"]

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

    def __post_init__(self) -> None:
        if self.state_dir is not None and not isinstance(
            self.state_dir, str | os.PathLike
        ):
            raise TypeError(f"state_dir must be a path or None, got {self.state_dir!r}")
        if self.save_interval is not None:
            check_seconds("save_interval", self.save_interval, allow_zero=False)
        check_int("keep_last", self.keep_last, minimum=1, optional=True)
        check_int("keep_every", self.keep_every, minimum=1, optional=True)
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
        quiesced: Callable[[], AbstractAsyncContextManager[None]],
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

    @property
    def saves_on_shutdown(self) -> bool:
        """Whether a final checkpoint is due when the service stops."""
        return self.options.save_on_shutdown and self.store is not None

    async def open(self) -> None:
        """Open the store (creating it) and restore ``resume_from``, if set."""
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
            await self._restore(options.resume_from)

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
                    return None
                raise
            return store.verify(checkpoint)

        found: Checkpoint | Path | None = await self._in_thread(find_and_verify)
        if found is None:
            logger.info(
                "no checkpoint in %s yet: starting fresh", self.options.state_dir
            )
            return
        ours = {
            "models": self._models.keys(),
            "data_users": self._users.keys(),
            "trainers": self._trainers.keys(),
        }
        strict = self.options.strict
        if isinstance(found, Path):
            root, source = found, "pamiq-core"
            saved = await self._in_thread(lambda: _restore.pamiq_components(root))
            to_load, differences = _restore.compare(root, saved, ours, strict=strict)
        else:
            root, source = found.path, "aiotrainer"
            to_load, differences = _restore.check_match(found, ours, strict=strict)
        for difference in differences:
            logger.warning("restoring %s: %s (skipped)", root.name, difference)
        time_restored: bool = await self._in_thread(
            lambda: _restore.load(
                root,
                to_load,
                models=self._models.data,
                data_users=self._users,
                trainers=self._trainers,
            )
        )
        self.restore_report = _restore.RestoreReport(
            checkpoint=str(root),
            loaded=to_load,
            differences=differences,
            source=source,
            time_restored=time_restored,
        )
        if isinstance(found, Checkpoint):
            self.last_checkpoint = found
        logger.info("restored state from %s (%s)", root, source)

    async def save(self) -> Path:
        """Write a checkpoint now; see :meth:`TrainerService.save_state`."""
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
        async with self._lock:
            return await self._save(store)

    async def _save(self, store: CheckpointStore) -> Path:
        started = time.perf_counter()
        try:
            async with self._quiesced():
                try:
                    writer = await self._in_thread(
                        lambda: _snapshot.capture(
                            self._models.data,
                            self._users,
                            self._trainers,
                            staging_root=store.root,
                        )
                    )
                except Exception as exc:
                    raise CheckpointSaveError(store.root, exc) from exc
            held = time.perf_counter() - started
            metadata = _snapshot.describe(
                self._models.keys(),
                self._users.keys(),
                self._trainers.keys(),
                collected={n: u.collector.collected for n, u in self._users.items()},
                wrote_nothing=writer.wrote_nothing,
            )
            self._warn_wrote_nothing(writer.wrote_nothing)
            checkpoint: Checkpoint = await self._in_thread(
                lambda: store.save(writer, metadata=metadata)
            )
        except CheckpointSaveError as exc:
            self.last_save_error = str(exc)
            logger.error("checkpoint failed: %s", exc)
            self._emit(ServiceEvent(EventKind.SAVE_FAILED, error=str(exc)))
            raise
        self.last_checkpoint = checkpoint
        self.last_save_error = None
        self.last_save_held = held
        self.last_save_duration = time.perf_counter() - started
        self._emit(
            ServiceEvent(
                EventKind.SAVED,
                path=str(checkpoint.path),
                duration=self.last_save_duration,
            )
        )
        return checkpoint.path

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
        while True:
            await anyio.sleep(interval)
            try:
                await self.save()
            except CheckpointSaveError:
                continue

    async def save_final(self) -> None:
        """The checkpoint written when the service stops (failures reported)."""
        try:
            path = await self.save()
            logger.info("final checkpoint: %s", path)
        except CheckpointSaveError:
            pass
