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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..data.user import DataUser
from ..model.interface import TrainingModel
from ..trainer.base import Trainer
from ._atomic import TMP_PREFIX

__all__ = ["SECTIONS", "STATE_FORMAT", "capture", "describe"]

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


def capture(
    models: Mapping[str, TrainingModel[Any]],
    data_users: Mapping[str, DataUser[Any]],
    trainers: Mapping[str, Trainer],
    *,
    staging_root: Path,
) -> Writer:
    """Snapshot every component now; return a writer that lays them out later.

    Call it while trainers are quiesced. Data users snapshot in memory (a copy of
    item references); models and trainers have no such hook, so they save into a
    staging directory under ``staging_root`` (named like the store's temporary
    directories, so a crash's leftover is cleaned like theirs). The writer moves
    the staged files into place and writes the in-memory snapshots.
    """
    staging = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}capture-", dir=staging_root))
    try:
        (staging / SECTIONS["models"]).mkdir()
        (staging / SECTIONS["trainers"]).mkdir()
        for name, model in models.items():
            model.save_state(staging / SECTIONS["models"] / name)
        for name, trainer in trainers.items():
            trainer.save_state(staging / SECTIONS["trainers"] / name)
        deferred = {name: user.capture_state() for name, user in data_users.items()}
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    def write(directory: Path) -> None:
        try:
            for section in (SECTIONS["models"], SECTIONS["trainers"]):
                (staging / section).rename(directory / section)
            data_dir = directory / SECTIONS["data_users"]
            data_dir.mkdir()
            for name, writer in deferred.items():
                writer(data_dir / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return write
