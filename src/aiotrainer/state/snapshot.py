"""Capturing a service's whole state for a checkpoint (blocking; worker threads).

Layout inside a checkpoint directory::

    models/<name>...     each TrainingModel's save_state(path)
    data/<name>/         each DataUser's save_state(path): buffer + timestamps
    trainers/<name>/     each Trainer's save_state(path)

The manifest's metadata records which components are there (``describe``), so
that a restore can list every difference before it loads anything.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..data.user import DataUser
from ..model.interface import TrainingModel
from ..trainer.base import Trainer
from . import _atomic
from ._atomic import TMP_PREFIX
from .store import mark_temporary

__all__ = ["SECTIONS", "STATE_FORMAT", "Capture", "capture", "describe"]

#: The layout version of the service state inside a checkpoint.
STATE_FORMAT = 1
#: The checkpoint's subdirectories, by kind of component.
SECTIONS = {"models": "models", "data_users": "data", "trainers": "trainers"}

Writer = Callable[[Path], None]


def describe(
    models: Iterable[str],
    data_users: Iterable[str],
    trainers: Iterable[str],
    **extra: Any,
) -> dict[str, Any]:
    """The manifest metadata that names a service's components."""
    return {
        "aiotrainer_state": STATE_FORMAT,
        "models": sorted(models),
        "data_users": sorted(data_users),
        "trainers": sorted(trainers),
        **extra,
    }


class Capture:
    """A snapshot taken now, laid out into a checkpoint directory later.

    Models and trainers were saved into a staging directory under the store's
    root, named and locked like the store's own temporary directories: another
    store opened on the root (a listing, a second service) leaves it alone, and a
    crash's leftover is cleaned like theirs. Dropping an unused capture removes it.
    """

    def __init__(self, staging: Path, lock_fd: int | None, deferred: dict[str, Writer]):
        self._staging = staging
        self._deferred = deferred
        self._cleanup = weakref.finalize(self, _discard, staging, lock_fd)

    def discard(self) -> None:
        """Remove the staged files now (blocking); idempotent."""
        self._cleanup()

    def __call__(self, directory: Path) -> None:
        try:
            for section in (SECTIONS["models"], SECTIONS["trainers"]):
                (self._staging / section).rename(directory / section)
            data_dir = directory / SECTIONS["data_users"]
            data_dir.mkdir()
            for name, writer in self._deferred.items():
                writer(data_dir / name)
        finally:
            self._cleanup()


def _discard(staging: Path, lock_fd: int | None) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    if lock_fd is not None:
        _atomic.unlock(lock_fd)


def capture(
    models: Mapping[str, TrainingModel[Any]],
    data_users: Mapping[str, DataUser[Any]],
    trainers: Mapping[str, Trainer],
    *,
    staging_root: Path,
) -> Capture:
    """Snapshot every component now; return a writer that lays them out later.

    Call it while trainers are quiesced. Data users snapshot in memory (a copy of
    item references); models and trainers have no such hook, so they save into a
    locked staging directory under ``staging_root``. The writer moves the staged
    files into place and writes the in-memory snapshots.
    """
    staging = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}capture-", dir=staging_root))
    lock_fd = _atomic.lock_dir_nowait(staging)  # ours alone: nobody else has it
    try:
        mark_temporary(staging)
        (staging / SECTIONS["models"]).mkdir()
        (staging / SECTIONS["trainers"]).mkdir()
        for name, model in models.items():
            model.save_state(staging / SECTIONS["models"] / name)
        for name, trainer in trainers.items():
            trainer.save_state(staging / SECTIONS["trainers"] / name)
        deferred = {name: user.capture_state() for name, user in data_users.items()}
    except BaseException:
        _discard(staging, lock_fd)
        raise
    return Capture(staging, lock_fd, deferred)
