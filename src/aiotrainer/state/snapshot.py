"""Capturing a service's whole state for a checkpoint (blocking; worker threads).

Layout inside a checkpoint directory::

    models/<name>...     each TrainingModel's save_state(path)
    data/<name>/         each DataUser's save_state(path): buffer + timestamps
    trainers/<name>/     each Trainer's save_state(path)
    time.pkl             the clock (aiotrainer.time), as pamiq-core saves it

These are pamiq-core's names: its ``StateStore`` with ``models``, ``data``,
``trainers`` and ``time`` registered loads a checkpoint, and a state directory
it wrote loads into a service.

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

from .. import time as _clock
from ..data.user import DataUser
from ..model.interface import TrainingModel
from ..trainer.base import Trainer
from . import _atomic
from ._atomic import TMP_PREFIX
from .store import mark_temporary

__all__ = [
    "SECTIONS",
    "STATE_FORMAT",
    "TIME_NAME",
    "Capture",
    "capture",
    "describe",
    "saved_nothing",
]

#: The layout version of the service state inside a checkpoint.
STATE_FORMAT = 1
#: The checkpoint's subdirectories, by kind of component.
SECTIONS = {"models": "models", "data_users": "data", "trainers": "trainers"}
#: The clock's state path (``time.pkl``: the controller adds the suffix).
TIME_NAME = "time"

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


def saved_nothing(metadata: Mapping[str, Any]) -> list[str]:
    """The components a checkpoint's manifest records as having written no file,
    as ``"model 'x'"`` / ``"trainer 'y'"``; empty for older checkpoints."""
    recorded = metadata.get("wrote_nothing")
    if not isinstance(recorded, Mapping):
        return []
    out = []
    for section, kind in (("models", "model"), ("trainers", "trainer")):
        names = recorded.get(section)
        if isinstance(names, list):
            out += [f"{kind} {n!r}" for n in names if isinstance(n, str)]
    return out


class Capture:
    """A snapshot taken now, laid out into a checkpoint directory later.

    Models and trainers were saved into a staging directory under the store's
    root, named and locked like the store's own temporary directories: another
    store opened on the root (a listing, a second service) leaves it alone, and a
    crash's leftover is cleaned like theirs. Dropping an unused capture removes it.
    """

    def __init__(
        self,
        staging: Path,
        lock_fd: int | None,
        deferred: dict[str, Writer],
        wrote_nothing: dict[str, list[str]],
    ):
        self._staging = staging
        self._deferred = deferred
        self.wrote_nothing = wrote_nothing
        """Section -> the components whose ``save_state`` wrote no file."""
        self._cleanup = weakref.finalize(self, _discard, staging, lock_fd)

    def discard(self) -> None:
        """Remove the staged files now (blocking); idempotent."""
        self._cleanup()

    def __call__(self, directory: Path) -> None:
        try:
            for section in (SECTIONS["models"], SECTIONS["trainers"]):
                (self._staging / section).rename(directory / section)
            clock = f"{TIME_NAME}.pkl"
            (self._staging / clock).rename(directory / clock)
            data_dir = directory / SECTIONS["data_users"]
            data_dir.mkdir()
            # a buffer without capture_state() was saved under the staging
            # directory's data/<name> (same filesystem): its writer renames it
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
    files into place and writes the in-memory snapshots. The clock is saved too
    (``time.pkl``), and the writer's ``wrote_nothing`` lists the models and
    trainers whose ``save_state`` wrote no file.
    """
    staging = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}capture-", dir=staging_root))
    lock_fd = _atomic.lock_dir_nowait(staging)  # ours alone: nobody else has it
    try:
        mark_temporary(staging)
        wrote_nothing: dict[str, list[str]] = {"models": [], "trainers": []}
        for section, components in (("models", models), ("trainers", trainers)):
            directory = staging / SECTIONS[section]
            directory.mkdir()
            for name, component in components.items():
                before = _files(directory)
                component.save_state(directory / name)
                if _files(directory) == before:
                    wrote_nothing[section].append(name)
        _clock.get_global_time_controller().save_state(staging / TIME_NAME)
        (staging / SECTIONS["data_users"]).mkdir()
        data_staging = staging / SECTIONS["data_users"]
        deferred = {
            name: user.capture_state(data_staging / name)
            for name, user in data_users.items()
        }
    except BaseException:
        _discard(staging, lock_fd)
        raise
    return Capture(staging, lock_fd, deferred, wrote_nothing)


def _files(directory: Path) -> set[Path]:
    """Every regular file under ``directory``."""
    return {p for p in directory.rglob("*") if p.is_file()}
