"""Persistence: the state mixin, and atomic checkpoints."""

from .checkpoint import Checkpoint, CheckpointFile
from .errors import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointRefusedError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateLoadError,
    StateRootError,
)
from .persistence import PersistentStateMixin
from .retention import RetentionPolicy
from .store import CheckpointStore

__all__ = [
    "Checkpoint",
    "CheckpointFile",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CheckpointRefusedError",
    "CheckpointSaveError",
    "CheckpointStore",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "PersistentStateMixin",
    "RetentionPolicy",
    "StateLoadError",
    "StateRootError",
]
