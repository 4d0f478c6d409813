"""Checking a saved state against a service, and loading it (blocking).

Two kinds of saved state load: an aiotrainer checkpoint (a manifest names its
components), and a pamiq-core state directory, what pamiq-core's ``StateStore``
or launcher writes (no manifest; its components are read from the layout:
``models/``, ``data/<name>/``, ``trainers/<name>/``, ``time.pkl``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import time as _clock
from ..data.user import DataUser
from ..model.interface import TrainingModel
from ..trainer.base import Trainer
from ._atomic import TMP_PREFIX
from ._manifest import MANIFEST_NAME
from .checkpoint import Checkpoint
from .errors import CheckpointMismatchError, StateLoadError
from .snapshot import SECTIONS, STATE_FORMAT, TIME_NAME
from .store import is_checkpoint_name

__all__ = [
    "RestoreReport",
    "check_match",
    "compare",
    "find_pamiq_state",
    "load",
    "pamiq_components",
]

_log = logging.getLogger("aiotrainer.state")

_KINDS = {"models": "model", "data_users": "data user", "trainers": "trainer"}


@dataclass(frozen=True)
class RestoreReport:
    """What a restore loaded and what it left out (``service.restore_report``)."""

    checkpoint: str
    """The path of the checkpoint loaded."""
    loaded: dict[str, list[str]] = field(default_factory=dict)
    """The names loaded, by section: ``"models"``, ``"data_users"``,
    ``"trainers"``."""
    differences: list[str] = field(default_factory=list)
    """What did not match and was skipped (only with ``strict=False``; a strict
    restore refuses any difference)."""
    source: str = "aiotrainer"
    """``"aiotrainer"`` for a checkpoint, ``"pamiq-core"`` for a pamiq-core state
    directory (detected by its layout)."""
    time_restored: bool = False
    """Whether the clock (:mod:`aiotrainer.time`) continued from the saved one."""
    lost: dict[str, int] = field(default_factory=dict)
    """Data user -> items in the checkpoint that its buffer could not hold."""


def find_pamiq_state(ref: object) -> Path | None:
    """``ref`` as a pamiq-core state directory, or ``None`` if it is not one.

    One is a directory with no manifest that holds at least one of pamiq-core's
    entries: ``models``, ``data``, ``trainers`` (directories) or ``time.pkl``, and
    is not named as a checkpoint store names its own: an aiotrainer checkpoint
    that lost its manifest (or a save in progress) is corrupt, never loaded
    unverified as a pamiq-core state.
    """
    if not isinstance(ref, str | os.PathLike) or ref == "latest":
        return None
    path = Path(ref)
    if not path.is_dir() or (path / MANIFEST_NAME).exists():
        return None
    name = path.absolute().name
    if name.startswith(TMP_PREFIX) or is_checkpoint_name(name):
        return None
    dirs = [path / SECTIONS[s] for s in _KINDS]
    if any(d.is_dir() for d in dirs) or (path / f"{TIME_NAME}.pkl").is_file():
        return path
    return None


def pamiq_components(path: Path) -> dict[str, list[str]]:
    """The components a pamiq-core state directory holds, by section.

    A model may have saved a file with a suffix (``models/policy.pt``): its name
    is the entry's name up to the first dot. Data users and trainers save
    directories.
    """
    out: dict[str, list[str]] = {}
    for section in _KINDS:
        directory = path / SECTIONS[section]
        if not directory.is_dir():
            out[section] = []
            continue
        names = set()
        for entry in directory.iterdir():
            if entry.name.startswith("."):
                continue
            if section == "models" and not entry.is_dir():
                names.add(entry.name.split(".", 1)[0])
            else:
                names.add(entry.name)
        out[section] = sorted(names)
    return out


def check_match(
    checkpoint: Checkpoint,
    components: Mapping[str, Iterable[str]],
    *,
    strict: bool,
    capacities: Mapping[str, int | None] | None = None,
) -> tuple[dict[str, list[str]], list[str]]:
    """Compare the checkpoint's components with the service's.

    :param components: section ("models", "data_users", "trainers") -> names.
    :param capacities: data user -> its buffer's ``max_size``: a buffer smaller
        than the items saved for it is a difference (items would be lost).
    :return: what to load per section, and the differences found.
    :raises CheckpointMismatchError: when ``strict`` and anything differs, or the
        checkpoint is not a service state at all, or its state format is newer.
    """
    meta = checkpoint.metadata
    _check_version(checkpoint)
    theirs = {section: list(meta.get(section, [])) for section in components}
    return compare(
        checkpoint.path,
        theirs,
        components,
        strict=strict,
        stored=meta.get("stored"),
        capacities=capacities,
    )


def _check_version(checkpoint: Checkpoint) -> None:
    version = checkpoint.metadata.get("aiotrainer_state")
    if not isinstance(version, int):
        raise CheckpointMismatchError(
            checkpoint.path,
            [
                "it holds no aiotrainer service state (no 'aiotrainer_state' in its metadata)"
            ],
        )
    if version > STATE_FORMAT:
        raise CheckpointMismatchError(
            checkpoint.path,
            [
                (
                    f"its state format is {version}, newer than {STATE_FORMAT}, "
                    "the newest this aiotrainer reads; upgrade aiotrainer to load it"
                )
            ],
        )


def compare(
    path: Path,
    saved: Mapping[str, Iterable[str]],
    components: Mapping[str, Iterable[str]],
    *,
    strict: bool,
    stored: object = None,
    capacities: Mapping[str, int | None] | None = None,
) -> tuple[dict[str, list[str]], list[str]]:
    """Compare the saved state's components with the service's.

    :param saved: section -> the names the saved state holds.
    :param components: section -> the service's names.
    :param stored: data user -> items saved for it (the manifest's ``stored``).
    :param capacities: data user -> its buffer's ``max_size``.
    :return: what to load per section, and the differences found.
    :raises CheckpointMismatchError: when ``strict`` and anything differs.
    """
    differences: list[str] = []
    to_load: dict[str, list[str]] = {}
    for section, names in components.items():
        ours = set(names)
        theirs = set(saved.get(section, []))
        kind = _KINDS[section]
        differences += [
            f"{kind} {n!r} is in the service but not in the checkpoint"
            for n in sorted(ours - theirs)
        ]
        differences += [
            f"{kind} {n!r} is in the checkpoint but not in the service"
            for n in sorted(theirs - ours)
        ]
        to_load[section] = sorted(ours & theirs)
    if isinstance(stored, dict) and capacities:
        for name in to_load.get("data_users", []):
            count, capacity = stored.get(name), capacities.get(name)
            if isinstance(count, int) and capacity is not None and count > capacity:
                differences.append(
                    f"data user {name!r} holds {count} items in the checkpoint but "
                    f"its buffer holds at most {capacity}: {count - capacity} would "
                    "be lost"
                )
    if differences and strict:
        raise CheckpointMismatchError(path, differences)
    return to_load, differences


def load(
    root: Path,
    to_load: Mapping[str, list[str]],
    *,
    models: Mapping[str, TrainingModel[Any]],
    data_users: Mapping[str, DataUser[Any]],
    trainers: Mapping[str, Trainer],
    stored: object = None,
) -> tuple[bool, dict[str, int]]:
    """Call each named component's ``load_state`` on its part of the saved state,
    continue the clock from ``time.pkl`` if there is one, then sync every loaded
    model into its inference model (as pamiq-core's ``TrainingModelsDict`` does):
    the agent never acts on weights older than the restored ones.

    :param root: the checkpoint's or pamiq-core state's directory.
    :param stored: data user -> items saved for it (the manifest's ``stored``;
        ``None`` for a pamiq-core state, which does not record it).
    :raises StateLoadError: naming the component whose ``load_state`` (or
        ``sync``) raised.
    :return: whether the clock was restored, and data user -> items saved that
        its buffer did not keep.
    """
    groups: list[tuple[str, Mapping[str, Any]]] = [
        ("models", models),
        ("data_users", data_users),
        ("trainers", trainers),
    ]
    for section, registry in groups:
        for name in to_load.get(section, []):
            path: Path = root / SECTIONS[section] / name
            try:
                registry[name].load_state(path)
            except Exception as exc:
                raise StateLoadError(root, _KINDS[section], name, exc) from exc
    time_file = root / f"{TIME_NAME}.pkl"
    restored_time = time_file.is_file()
    if restored_time:
        try:
            _clock.get_global_time_controller().load_state(root / TIME_NAME)
        except Exception as exc:
            raise StateLoadError(root, "clock", TIME_NAME, exc) from exc
    for name in to_load.get("models", []):
        try:
            models[name].sync()
        except Exception as exc:
            raise StateLoadError(root, _KINDS["models"], name, exc) from exc
    for trainer in trainers.values():
        trainer._resync_after_restore()
    lost: dict[str, int] = {}
    if isinstance(stored, Mapping):
        for name in to_load.get("data_users", []):
            count = stored.get(name)
            if isinstance(count, int) and count > len(data_users[name]):
                lost[name] = count - len(data_users[name])
    return restored_time, lost
