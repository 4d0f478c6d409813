"""Persistence: the state mixin, and atomic checkpoints."""

from .checkpoint import Checkpoint, CheckpointFile
from .errors import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateDirLockedError,
    StateLoadError,
    StateRootError,
)
from .lock import StateDirLock
from .persistence import PersistentStateMixin
from .retention import RetentionPolicy
from .store import CheckpointStore

__all__ = [
    "Checkpoint",
    "CheckpointFile",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CheckpointSaveError",
    "CheckpointStore",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "PersistentStateMixin",
    "RetentionPolicy",
    "StateDirLock",
    "StateDirLockedError",
    "StateLoadError",
    "StateRootError",
]
