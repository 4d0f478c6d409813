"""Persistence: the state mixin, atomic checkpoints, and pamiq-core's StateStore."""

from .checkpoint import Checkpoint, CheckpointFile
from .errors import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointRefusedError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    StateDirLockedError,
    StateLoadError,
    StateRootError,
)
from .lock import StateDirLock
from .persistence import PersistentStateMixin, load_pickle, save_pickle
from .retention import RetentionPolicy
from .state_store import DuplicateStateNameError, StateStore
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
    "DuplicateStateNameError",
    "PersistentStateMixin",
    "RetentionPolicy",
    "StateDirLock",
    "StateDirLockedError",
    "StateLoadError",
    "StateRootError",
    "StateStore",
    "load_pickle",
    "save_pickle",
]
