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
from .model import (
    InferenceModel,
    InferenceModelsDict,
    TrainingModel,
    TrainingModelsDict,
)
from .state import PersistentStateMixin
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
    "CollectorAlreadyAcquiredError",
    "Condition",
    "ConditionContext",
    "DataBuffer",
    "DataCollector",
    "DataCollectorsDict",
    "DataUser",
    "DataUserStatistics",
    "DataUsersDict",
    "InferenceModel",
    "InferenceModelsDict",
    "MinBufferSize",
    "MinInterval",
    "MinNewData",
    "NotAttachedError",
    "PersistentStateMixin",
    "RandomReplacementBuffer",
    "Readiness",
    "SampleToInsertRatio",
    "SequentialBuffer",
    "ThreadEventMixin",
    "Trainer",
    "TrainersDict",
    "TrainingModel",
    "TrainingModelsDict",
    "UnknownNameError",
    "__version__",
    "all_of",
    "any_of",
]
