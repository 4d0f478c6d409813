"""The engine: pause gate, scheduler, executors, error policies."""

from .errors import PauseTimeoutError, ServiceStateError, TrainerFailedError
from .executor import Executor, LocalExecutor
from .pause_gate import PauseGate, PauseGateStatistics, pause_point
from .policy import ErrorPolicy
from .scheduler import Scheduler

__all__ = [
    "ErrorPolicy",
    "Executor",
    "LocalExecutor",
    "PauseGate",
    "PauseGateStatistics",
    "PauseTimeoutError",
    "Scheduler",
    "ServiceStateError",
    "TrainerFailedError",
    "pause_point",
]
