"""aiotrainer: an asyncio-native background trainer for continual learning.

The Trainer API is pamiq-core's; the engine underneath waits on events instead of
polling and runs the blocking ``train()`` in a worker thread pool.
"""

from .data import (
    CollectorAlreadyAcquiredError,
    DataBuffer,
    DataCollector,
    DataCollectorsDict,
    DataUser,
    DataUsersDict,
    DataUserStatistics,
    RandomReplacementBuffer,
    SequentialBuffer,
)
from .errors import AiotrainerError, UnknownNameError
from .events import EventKind, EventStream, ServiceEvent
from .model import (
    InferenceModel,
    InferenceModelsDict,
    TrainingModel,
    TrainingModelsDict,
)
from .scheduler import (
    ErrorPolicy,
    Executor,
    LocalExecutor,
    PauseGate,
    PauseTimeoutError,
    ServiceStateError,
    TrainerFailedError,
    pause_point,
)
from .service import TrainerService
from .state import (
    Checkpoint,
    CheckpointFile,
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CheckpointRefusedError,
    CheckpointSaveError,
    CheckpointStore,
    CheckpointVersionError,
    CorruptCheckpointError,
    PersistentStateMixin,
    RetentionPolicy,
    StateLoadError,
    StateRootError,
)
from .state.restore import RestoreReport
from .status import (
    BufferStatus,
    ServiceState,
    ServiceStatus,
    TrainerState,
    TrainerStatus,
)
from .thread_events import ThreadEventMixin
from .trainer import (
    AllOf,
    AnyOf,
    Condition,
    ConditionContext,
    MinBufferSize,
    MinInterval,
    MinNewData,
    NotAttachedError,
    Readiness,
    SampleToInsertRatio,
    Trainer,
    TrainersDict,
    all_of,
    any_of,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AiotrainerError",
    "AllOf",
    "AnyOf",
    "BufferStatus",
    "Checkpoint",
    "CheckpointFile",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CheckpointRefusedError",
    "CheckpointSaveError",
    "CheckpointStore",
    "CheckpointVersionError",
    "CollectorAlreadyAcquiredError",
    "Condition",
    "ConditionContext",
    "CorruptCheckpointError",
    "DataBuffer",
    "DataCollector",
    "DataCollectorsDict",
    "DataUser",
    "DataUserStatistics",
    "DataUsersDict",
    "ErrorPolicy",
    "EventKind",
    "EventStream",
    "Executor",
    "InferenceModel",
    "InferenceModelsDict",
    "LocalExecutor",
    "MinBufferSize",
    "MinInterval",
    "MinNewData",
    "NotAttachedError",
    "PauseGate",
    "PauseTimeoutError",
    "PersistentStateMixin",
    "RandomReplacementBuffer",
    "Readiness",
    "RestoreReport",
    "RetentionPolicy",
    "SampleToInsertRatio",
    "SequentialBuffer",
    "ServiceEvent",
    "ServiceState",
    "ServiceStateError",
    "ServiceStatus",
    "StateLoadError",
    "StateRootError",
    "ThreadEventMixin",
    "Trainer",
    "TrainerFailedError",
    "TrainerService",
    "TrainerState",
    "TrainerStatus",
    "TrainersDict",
    "TrainingModel",
    "TrainingModelsDict",
    "UnknownNameError",
    "__version__",
    "all_of",
    "any_of",
    "pause_point",
]
