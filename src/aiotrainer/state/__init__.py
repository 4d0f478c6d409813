"""Persistence: the state mixin, and atomic checkpoints."""

from .checkpoint import Checkpoint, CheckpointFile
from .errors import (
    CheckpointNotFoundError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateRootError,
)
from .persistence import PersistentStateMixin
from .retention import RetentionPolicy
from .store import StateStore

__all__ = [
    "Checkpoint",
    "CheckpointFile",
    "CheckpointNotFoundError",
    "CheckpointSaveError",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "PersistentStateMixin",
    "RetentionPolicy",
    "StateRootError",
    "StateStore",
]
