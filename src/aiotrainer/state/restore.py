"""Checking a checkpoint against a service, and loading it (blocking)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.user import DataUser
from ..model.interface import TrainingModel
from ..trainer.base import Trainer
from .checkpoint import Checkpoint
from .errors import CheckpointMismatchError, StateLoadError
from .snapshot import SECTIONS, STATE_FORMAT

__all__ = ["RestoreReport", "check_match", "load"]

_log = logging.getLogger("aiotrainer.state")

_KINDS = {"models": "model", "data_users": "data user", "trainers": "trainer"}


@dataclass(frozen=True)
class RestoreReport:
    """What a restore loaded and what it left out."""

    checkpoint: str
    loaded: dict[str, list[str]] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)
    """Data user -> items in the checkpoint that its buffer could not hold."""


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
    version = meta.get("aiotrainer_state")
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
    differences: list[str] = []
    to_load: dict[str, list[str]] = {}
    for section, names in components.items():
        ours = set(names)
        theirs = set(meta.get(section, []))
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
    stored = meta.get("stored")
    if isinstance(stored, dict) and capacities:
        for name in to_load.get("data_users", []):
            saved, capacity = stored.get(name), capacities.get(name)
            if isinstance(saved, int) and capacity is not None and saved > capacity:
                differences.append(
                    f"data user {name!r} holds {saved} items in the checkpoint but "
                    f"its buffer holds at most {capacity}: {saved - capacity} would "
                    "be lost"
                )
    if differences and strict:
        raise CheckpointMismatchError(checkpoint.path, differences)
    return to_load, differences


def load(
    checkpoint: Checkpoint,
    to_load: Mapping[str, list[str]],
    *,
    models: Mapping[str, TrainingModel[Any]],
    data_users: Mapping[str, DataUser[Any]],
    trainers: Mapping[str, Trainer],
) -> dict[str, int]:
    """Call each named component's ``load_state`` on its part of the checkpoint.

    :raises StateLoadError: naming the component whose ``load_state`` raised.
    :return: data user -> items saved that its buffer did not keep (when the
        checkpoint records how many it saved).
    """
    root = checkpoint.path
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
    for trainer in trainers.values():
        trainer._resync_after_restore()
    stored = checkpoint.metadata.get("stored")
    lost: dict[str, int] = {}
    if isinstance(stored, Mapping):
        for name in to_load.get("data_users", []):
            saved = stored.get(name)
            if isinstance(saved, int) and saved > len(data_users[name]):
                lost[name] = saved - len(data_users[name])
    return lost
